{
  "targets": [
    {
      "target_name": "ferry_store_native",
      "sources": ["ferry_store_native.c"],
      "cflags": ["-O2", "-Wall"]
    }
  ]
}
