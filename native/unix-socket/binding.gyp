{
  "targets": [
    {
      "target_name": "knockgate_unix_socket",
      "sources": ["src/unix-socket.c"],
      "cflags": ["-Wall", "-Wextra", "-std=gnu11"]
    }
  ]
}
