import http from "node:http";
import { health } from "./health";

const port = Number(process.env.PORT ?? 8080);

function send(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body) + "\n");
}

const server = http.createServer((req, res) => {
  if (req.method !== "GET" || req.url !== "/healthz") {
    send(res, 404, { error: "not found" });
    return;
  }
  health().then(
    (report) => send(res, 200, report),
    (error: unknown) => send(res, 500, { status: "error", error: String(error) }),
  );
});

server.listen(port, () => console.log(`native-service listening on port ${port}`));

// Containers stop with SIGTERM; close cleanly instead of being killed after the grace period.
process.on("SIGTERM", () => server.close(() => process.exit(0)));
