# Golden fixture: receive pipelines, parties and the inbound rules
# BP7001–BP7009 (language §10). The certificates are copies of the demo PKI
# of examples/ (valid until 2080) and two certificates that expired in 2021
# (DEMO ONLY). The warning window reaches past 2080, so the demo
# certificates the rules judge warn (BP7005, BP7008).

group "contoso" {
  certificate_expiry_warning = "500000h"
}

certificate_store "full" {
  path = "stores/full"
}

certificate_store "cert_only" {
  path = "stores/cert_only"
}

certificate_store "other_cert" {
  path = "stores/other_cert"
}

certificate_store "expired" {
  path = "stores/expired"
}

certificate_store "others" {
  path = "stores/others"
}

certificate_store "rotating" {
  path = "stores/rotating"
}

service_account "svc_full" {
  personal_store = certificate_store.full
}

service_account "svc_cert_only" {
  personal_store = certificate_store.cert_only
}

service_account "svc_other_cert" {
  personal_store = certificate_store.other_cert
}

service_account "svc_expired" {
  personal_store = certificate_store.expired
}

service_account "svc_rotating" {
  personal_store = certificate_store.rotating
}

server "srv1" {
  other_people_store = certificate_store.others
}

server "srv2" {
  other_people_store = certificate_store.others
}

# Decrypts with the Fabrikam demo certificate: srv1's account has it with its
# key, srv2's without (BP7003), and the third instance's account has another
# certificate (BP7002).
host "recv_host" {
  decryption_certificate = "CC FE 30 2D A2 96 CC 18 B3 16 BA 30 63 F0 69 16 93 82 D9 FC"
  instance {
    server          = server.srv1
    service_account = service_account.svc_full
  }
  instance {
    server          = server.srv2
    service_account = service_account.svc_cert_only
  }
  instance {
    server          = server.srv2
    service_account = service_account.svc_other_cert
  }
}

# Decrypts with a certificate that expired in 2021 (BP7004).
host "legacy_host" {
  decryption_certificate = "41718099E6FADF63437262A8E90A1828AD6DCA21"
  instance {
    server          = server.srv1
    service_account = service_account.svc_expired
  }
}

# Rotates its decryption certificate: decrypts with the Fabrikam demo
# certificate, and still with the one that expired in 2021 for partners that
# have not switched (BP7004, a warning for a previous certificate: remove it),
# which srv2's account lacks (BP7002).
host "rotating_host" {
  decryption_certificate           = "CCFE302DA296CC18B316BA3063F069169382D9FC"
  previous_decryption_certificates = ["41718099E6FADF63437262A8E90A1828AD6DCA21"]
  instance {
    server          = server.srv1
    service_account = service_account.svc_rotating
  }
  instance {
    server          = server.srv2
    service_account = service_account.svc_full
  }
}

# Decrypts without a decryption_certificate (BP7001).
host "bare_host" {
  instance {
    server          = server.srv1
    service_account = service_account.svc_full
  }
}

party "fabrikam" {
  as2_id               = "FABRIKAM"
  signing_certificates = ["CCFE302DA296CC18B316BA3063F069169382D9FC"]
}

# The same AS2 identifier as fabrikam (BP7009).
party "fabrikam_eu" {
  as2_id = "FABRIKAM"
}

# Signs with a certificate that expired in 2021 (BP7007).
party "oldco" {
  signing_certificates = ["95C21F25EFD4B7EFBEB89B87C17C8F92839B7C2C"]
}

# Signs with a certificate that is in no other-people store (BP7006).
party "litware" {
  signing_certificates = ["4E077EB5555B50DCBCBF3D7261281954D2A1999D"]
}

pipeline "decrypt" {
  decoder "smime" {
    decrypt = true
  }
}

pipeline "decode" {
  decoder "smime" {
    decrypt = true
    verify  = true
  }
}

receive_location "from_fabrikam" {
  host     = host.recv_host
  pipeline = pipeline.decrypt
  transport "file" {
    path = "in/fabrikam"
  }
}

receive_location "legacy_in" {
  host     = host.legacy_host
  pipeline = pipeline.decode
  transport "file" {
    path = "in/legacy"
  }
}

receive_location "rotating_in" {
  host     = host.rotating_host
  pipeline = pipeline.decrypt
  transport "file" {
    path = "in/rotating"
  }
}

receive_location "bare_in" {
  host     = host.bare_host
  pipeline = pipeline.decrypt
  transport "file" {
    path = "in/bare"
  }
}

send_port "archive" {
  host   = host.recv_host
  filter = message.party == "fabrikam"
  transport "file" {
    path      = "out/archive"
    file_name = "${message.party}-${message.id}"
  }
}
