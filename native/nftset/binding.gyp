{
  "targets": [
    {
      "target_name": "knockgate_nftset",
      "sources": ["src/nftset.c"],
      "libraries": ["-lnftnl", "-lmnl"],
      "cflags": ["-Wall", "-Wextra", "-std=gnu11"]
    }
  ]
}
