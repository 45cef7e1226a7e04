# Every block and attribute of the language, all valid.
group "contoso" {
  signing_certificate        = "9F1C 3A22 0000 0000 0000 0000 0000 0000 0000 0001"
  certificate_expiry_warning = "1440h"
  as2_id                     = "CONTOSO"
}

variable "p12_password" {
  type        = string
  description = "PKCS#12 password"
  sensitive   = true
}

variable "partner" {
  type    = string
  default = "fabrikam"
}

variable "retries" {
  type    = number
  default = 5
}

locals {
  partner_dir = "out/${var.partner}"
  upper_name  = upper(var.partner)
}

certificate_store "personal" {
  path     = "stores/personal"
  password = var.p12_password
}

certificate_store "others" {
  path = "stores/others"
}

service_account "svc" {
  user           = "bts-send"
  personal_store = certificate_store.personal
}

server "srv1" {
  other_people_store = certificate_store.others
}

host "send_host" {
  decryption_certificate = "5B1E 0000 0000 0000 0000 0000 0000 0000 0000 0003"
  instance {
    server          = server.srv1
    service_account = service_account.svc
  }
}

pipeline "sign_encrypt" {
  encoder "smime" {
    signature                 = "opaque"
    digest                    = "sha512"
    include_certificate       = false
    encrypt                   = true
    encryption_algorithm      = "aes128-gcm"
    content_transfer_encoding = "quoted-printable"
  }
}

party "fabrikam" {
  as2_id               = "FABRIKAM"
  signing_certificates = ["77AC 0000 0000 0000 0000 0000 0000 0000 0000 0004"]
}

pipeline "decode" {
  decoder "smime" {
    decrypt            = true
    verify             = true
    require_encryption = false
  }
}

receive_location "orders_in" {
  host         = host.send_host
  pipeline     = pipeline.decode
  content_type = "application/edi-x12"
  properties   = { partner = var.partner, kind = "order" }
  transport "http" {
    listen   = "127.0.0.1:8080"
    path     = "/orders"
    max_body = "64MiB"
  }
}

receive_location "files_in" {
  host = host.send_host
  transport "file" {
    path          = "in"
    pattern       = "*.edi"
    poll_interval = "250ms"
  }
}

send_port "fabrikam" {
  host                   = host.send_host
  pipeline               = pipeline.sign_encrypt
  encryption_certificate = "4a:7b:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:02"
  filter                 = message.receive_location == "orders_in" && message.properties.partner == var.partner && message.size > 0 && message.party != "litware"
  transport "file" {
    path      = local.partner_dir
    file_name = "${message.id}-${lower(message.file_name)}.eml"
    copy_mode = "overwrite"
  }
  retry {
    attempts = var.retries
    interval = "30s"
  }
}

send_port "fabrikam_http" {
  host   = host.send_host
  filter = message.properties["kind"] == "order"
  transport "http" {
    url     = "https://127.0.0.1:8443/as2/${message.properties.partner}"
    headers = { "X-Message-Id" = message.id, "X-Partner" = local.upper_name }
    timeout = "10s"
    tls {
      ca_file   = "tls/ca.pem"
      cert_file = "tls/client.pem"
      key_file  = "tls/client.key"
    }
  }
}

message_box {
  sqlite { path = "data/messagebox.db" }
}
