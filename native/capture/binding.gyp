{
  "targets": [
    {
      "target_name": "knockgate_capture",
      "sources": ["src/capture.c", "src/capture-screen.c", "src/spa-hmac.c"],
      "libraries": ["-lpcap", "-pthread"],
      "cflags": ["-Wall", "-Wextra", "-std=gnu11"]
    },
    {
      "target_name": "knockgate_netdiag",
      "sources": ["src/netdiag.c"],
      "cflags": ["-Wall", "-Wextra", "-std=gnu11"]
    }
  ]
}
