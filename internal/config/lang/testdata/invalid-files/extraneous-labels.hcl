# A block that takes no labels, given one, is one error (HCL's); it is
# decoded as if it had none, so that it is not missing too: no undeclared
# local.a, no host without an instance (BP3006) nor unused server and
# service account (BP5002).
group "g" {
  signing_certificate = "4E077EB5555B50DCBCBF3D7261281954D2A1999D"
}
locals "x" { # expect: BP1004
  a = "in"
}
certificate_store "s" {
  path = "."
}
service_account "a" {
  personal_store = certificate_store.s
}
server "srv" {}
host "h" {
  instance "i1" { # expect: BP1004
    server          = server.srv
    service_account = service_account.a
  }
}
pipeline "sign" {
  encoder "smime" {
    signature = "clear"
  }
}
receive_location "r" {
  host = host.h
  transport "file" {
    path = "in"
  }
}
send_port "p" {
  host     = host.h
  pipeline = pipeline.sign
  filter   = message.receive_location == local.a
  transport "file" {
    path = "out"
  }
  retry "r" { # expect: BP1004
    attempts = 1
  }
}
