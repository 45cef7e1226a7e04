# Receive pipelines, parties and the inbound attributes (language §10).
group "g" {
  as2_id = 7 # a number converts to a string: no finding
}
host "h" {
  decryption_certificate = ["AB"] # expect: BP1004
}
party "p" {
  as2_id               = "P"
  signing_certificates = "77AC" # expect: BP1004
}
party "p" {} # expect: BP1002
party "empty_id" {
  as2_id = "" # expect: BP1004
}
party "tab_id" {
  as2_id = "FABRIKAM\tEU" # expect: BP1004
}
party "spaced_id" {
  as2_id = "Fabrikam EU" # RFC 4130 allows it, sent quoted
}
party "q" {
  signing_certificates = ["77AC", null] # expect: BP1004
  colour               = "blue"          # expect: BP1004
}
pipeline "mixed" {
  decoder "smime" {
    decrypt = true
  }
  encoder "smime" { # expect: BP1004
    signature = "clear"
  }
}
pipeline "dec" {
  decoder "smime" {
    decrypt            = "sometimes" # expect: BP1004
    require_encryption = false
  }
  decoder "pgp" {} # expect: BP1004
}
pipeline "decode" {
  decoder "smime" {
    verify = true
  }
}
pipeline "encode" {
  encoder "smime" {
    signature = "clear"
  }
}
receive_location "in" {
  host     = host.h
  pipeline = pipeline.encode # expect: BP1004
  transport "file" {
    path = "in"
  }
}
receive_location "in2" {
  host     = host.h
  pipeline = party.p # expect: BP1001
  transport "file" {
    path = "in"
  }
}
send_port "out" {
  host     = host.h
  pipeline = pipeline.decode # expect: BP1004
  filter   = message.party == "p"
  transport "file" {
    path      = "out"
    file_name = "${message.party}-${message.id}"
  }
}
send_port "out2" {
  host   = host.h
  filter = message.partner == "p" # expect: BP1005
  transport "file" {
    path = "out"
  }
}
