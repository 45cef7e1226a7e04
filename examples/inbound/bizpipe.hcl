# Inbound: the partner Fabrikam sends orders signed with its certificate and
# encrypted for ours. The receive location decrypts them with the host's
# decryption certificate, verifies the signature against what party
# "fabrikam" lists, and routes on message.party; a message that does not
# decode (unsigned, signed by someone else, not for us) is stored and
# suspended with the reason, never routed.
#
# Play the partner with OpenSSL: sign the order as a MIME entity (S/MIME
# signs an entity, header included), encrypt it for us, then receive:
#
#   p=examples/quickstart/partner
#   { printf 'Content-Type: application/xml\r\n\r\n'; cat examples/quickstart/samples/order-1001.xml; } |
#     openssl cms -sign -binary -signer $p/fabrikam.pem -inkey $p/fabrikam.key |
#     openssl cms -encrypt -binary -aes256 -out examples/inbound/in/order-1001.eml $p/contoso.pem
#   go run ./cmd/bizpipe run --once --data-dir .bizpipe/inbound examples/inbound
#
# The decoded order lands in out/orders/; `bizpipe messages body
# --as-received ID` gives the bytes as they arrived.
#
# It reuses the quickstart's DEMO PKI: never use it for real traffic.

group "contoso" {
  signing_certificate = "4E077EB5555B50DCBCBF3D7261281954D2A1999D"
}

variable "p12_password" {
  type        = string
  default     = "demo-only"
  description = "Password of the demo PKCS#12 files."
  sensitive   = true
}

certificate_store "svc_personal" {
  path     = "../quickstart/stores/svc_send"
  password = var.p12_password
}

certificate_store "srv1_other_people" {
  path = "../quickstart/stores/srv1_other_people"
}

service_account "svc_recv" {
  personal_store = certificate_store.svc_personal
}

server "srv1" {
  other_people_store = certificate_store.srv1_other_people
}

host "receive_host" {
  # The demo signing certificate allows key encipherment too, so it serves
  # as the decryption certificate here; a real host usually has its own.
  decryption_certificate = "4E077EB5555B50DCBCBF3D7261281954D2A1999D"
  instance {
    server          = server.srv1
    service_account = service_account.svc_recv
  }
}

party "fabrikam" {
  # SHA-1 thumbprint of stores/srv1_other_people/fabrikam.pem.
  signing_certificates = ["CCFE302DA296CC18B316BA3063F069169382D9FC"]
}

pipeline "decode" {
  decoder "smime" {
    decrypt = true
    verify  = true
  }
}

receive_location "from_fabrikam" {
  host     = host.receive_host
  pipeline = pipeline.decode
  transport "file" {
    path    = "in"
    pattern = "*.eml"
  }
}

send_port "orders" {
  host   = host.receive_host
  filter = message.party == "fabrikam"
  transport "file" {
    path      = "out/orders"
    file_name = "${message.id}.xml"
  }
}
