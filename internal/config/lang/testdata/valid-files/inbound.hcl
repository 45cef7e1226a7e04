# Receive pipelines, parties and the inbound attributes (language §10).
group "contoso" {
  signing_certificate = "9F1C 3A22 0000 0000 0000 0000 0000 0000 0000 0001"
  as2_id              = "CONTOSO"
}

host "receive_host" {
  decryption_certificate           = "5B1E 0000 0000 0000 0000 0000 0000 0000 0000 0002"
  previous_decryption_certificates = ["5B1E 0000 0000 0000 0000 0000 0000 0000 0000 0001", "5B1E 0000 0000 0000 0000 0000 0000 0000 0000 0000"]
}

party "fabrikam" {
  as2_id               = "FABRIKAM"
  signing_certificates = ["77AC 0000 0000 0000 0000 0000 0000 0000 0000 0003", "77AC 0000 0000 0000 0000 0000 0000 0000 0000 0004"]
}

party "litware" {}

pipeline "decode" {
  decoder "smime" {
    decrypt = true
    verify  = true
  }
}

pipeline "verify_only" {
  decoder "smime" {
    verify             = true
    require_encryption = false
  }
}

receive_location "from_fabrikam" {
  host     = host.receive_host
  pipeline = pipeline.decode
  transport "file" {
    path = "in/fabrikam"
  }
}

receive_location "from_litware" {
  host     = host.receive_host
  pipeline = pipeline.verify_only
  transport "file" {
    path = "in/litware"
  }
}

send_port "archive" {
  host   = host.receive_host
  filter = message.party == "fabrikam"
  transport "file" {
    path      = "out"
    file_name = "${message.party}-${message.id}"
  }
}
