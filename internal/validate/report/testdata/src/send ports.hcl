pipeline "sign_encrypt" {
  encoder "smime" {
    signature = "clear"
    digest    = "sha1"
    encrypt   = true
  }
}

send_port "fabrikam" {
  host     = host.send_host
  pipeline = pipeline.sign_encrypt
}
