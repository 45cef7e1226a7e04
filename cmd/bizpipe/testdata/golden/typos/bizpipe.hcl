# Golden fixture: the typos of issue 12, each of which sent the user to the
# wrong place. Every finding names what to fix; none follows from another.
# The certificates are copies of the demo PKI of examples/ (DEMO ONLY).

group "contoso" {
  # One digit wrong (5C for 5B): BP3001 points here and names the match.
  signing_certificate = "4E 07 7E B5 55 5C 50 DC BC BF 3D 72 61 28 19 54 D2 A1 99 9D"
}

variable "p12_password" {
  type      = string
  default   = "demo-only"
  sensitive = true
}

certificate_store "svc_send_personal" {
  path     = "stores/svc_send"
  password = var.p12_password
}

certificate_store "srv1_other_people" {
  path = "stores/srv1_other_people"
}

service_account "svc_send" {
  personal_store = certificate_store.svc_send_personal
}

server "srv1" {
  other_people_store = certificate_store.srv1_other_people
}

server "srv2" {
  # The wrong kind of object: BP1001, and no BP4002 saying srv2 has no store.
  other_people_store = service_account.svc_send
}

host "send_host" {
  instance {
    server          = server.srv1
    service_account = service_account.svc_send
  }
}

host "recv_host" {
  instance {
    server          = server.srv2
    service_account = service_account.svc_send
  }
}

pipeline "sign_encrypt" {
  encoder "smime" {
    signature = "clear"
    encrypt   = true
  }
}

receive_location "orders_in" {
  host       = host.sned_host
  properties = { partner = "fabrikam", kind = "order" }
  transport "file" {
    path = "in"
  }
}

# No filter matches its messages: BP1007.
receive_location "invoices_in" {
  host       = host.recv_host
  properties = { partner = "contoso" }
  transport "file" {
    path = "in2"
  }
}

send_port "fabrikam" {
  host                   = host.send_host
  pipeline               = pipeline.sign_encrypt
  encryption_certificate = "CCFE302DA296CC18B316BA3063F069169382D9FC"
  filter                 = message.receive_location == "orders_in" && message.properties.partner == "fabrikam" && message.properties.knd == "order"
  transport "file" {
    path      = "out"
    file_name = "${message.ID}.eml"
  }
}
