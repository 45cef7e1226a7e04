pipeline "sign_encrypt" {
  encoder "smime" {
    signature = "clear"
    encrypt   = true
  }
}

receive_location "orders_in" {
  host       = host.send_host
  properties = { partner = "fabrikam" }
  transport "file" {
    path = "in"
  }
}

send_port "fabrikam" {
  host                   = host.send_host
  pipeline               = pipeline.sign_encrypt
  encryption_certificate = "CCFE302DA296CC18B316BA3063F069169382D9FC"
  filter                 = message.properties.partner == "fabrikam"
  transport "file" {
    path = "out/fabrikam"
  }
}
