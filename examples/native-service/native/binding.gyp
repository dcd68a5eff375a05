{
  "targets": [
    {
      "target_name": "checksum",
      "sources": ["checksum.c"]
    }
  ]
}
