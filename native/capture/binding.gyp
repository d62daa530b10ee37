{
  "targets": [
    {
      "target_name": "knockgate_capture",
      "sources": ["src/capture.c"],
      "libraries": ["-lpcap"],
      "cflags": ["-Wall", "-Wextra", "-std=gnu11"]
    },
    {
      "target_name": "knockgate_netdiag",
      "sources": ["src/netdiag.c"],
      "cflags": ["-Wall", "-Wextra", "-std=gnu11"]
    },
    {
      "target_name": "knockgate_spahmac",
      "sources": ["src/spa-hmac.c"],
      "cflags": ["-Wall", "-Wextra", "-std=gnu11"]
    }
  ]
}
