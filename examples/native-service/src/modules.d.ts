// bcrypt 6 and better-sqlite3 13 ship no type declarations; these cover the calls this service makes,
// so the example needs no @types packages beyond @types/node.
declare module "bcrypt" {
  export function hash(data: string, rounds: number): Promise<string>;
  export function compare(data: string, encrypted: string): Promise<boolean>;
}

declare module "better-sqlite3" {
  interface Statement {
    get(...params: unknown[]): unknown;
  }
  class Database {
    constructor(filename: string);
    prepare(sql: string): Statement;
    close(): void;
  }
  export = Database;
}
