group "g" {
  signing_certificate = file("/dev/zero") # expect: BP1004
}
certificate_store "s" {
  path = file("no-such-file") # expect: BP1004
}
certificate_store "t" {
  path = trimspace(file("../valid-files/json.hcl.json")) == "" ? "a" : "b"
}
