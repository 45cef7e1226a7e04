pipeline "sign_encrypt" {
  encoder "smime" {
    signature            = "clear"
    digest               = "sha1"
    encrypt              = true
    encryption_algorithm = "des3"
  }
}

pipeline "sign_only" {
  encoder "smime" {
    signature = "sometimes"
  }
}

pipeline "opaque" {
  encoder "smime" {
    signature = "opaque"
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

send_port "copied" {
  host                   = host.edge_host
  pipeline               = pipeline.sign_encrypt
  encryption_certificate = "\u200eccfe302da296cc18b316ba3063f069169382d9fc"
  filter                 = message.properties.partner == "copied"
  transport "file" {
    path = "out/copied"
  }
}

send_port "archive" {
  host                   = host.edge_host
  pipeline               = pipeline.opaque
  encryption_certificate = "CCFE302DA296CC18B316BA3063F069169382D9FC"
  filter                 = message.sender == "archive"
  transport "file" {
    path = "out/archive"
  }
}

send_port "orphan" {
  host   = host.nowhere
  filter = true
  transport "file" {
    path = "out/orphan"
  }
}
