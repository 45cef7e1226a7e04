group "g" {
  signing_certificate = # expect: BP1000
}
