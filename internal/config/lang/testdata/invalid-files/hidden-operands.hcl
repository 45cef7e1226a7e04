# What && and || and a conditional choose by the message is unknown during
# validate, where HCL drops the errors of the operands it does not choose:
# each of these fails for every message that reaches it at run time.
group "g" {}
host "h" {}
variable "partners" {
  type    = list(string)
  default = null
}
locals {
  on = false
}
send_port "and" {
  host   = host.h
  filter = message.receive_location == "in" && upper(message.id, 1) == "X" # expect: BP1005
  transport "file" { path = "out" }
}
send_port "or" {
  host   = host.h
  filter = message.receive_location == "in" || nosuch(message.id) # expect: BP1005
  transport "file" { path = "out" }
}
send_port "chain" {
  host   = host.h
  filter = message.size > 1 && message.size < 10 && message.size > "ten" # expect: BP1005
  transport "file" { path = "out" }
}
send_port "received_at" {
  host   = host.h
  filter = message.receive_location == "in" && message.received_at > 5 # expect: BP1005
  transport "file" { path = "out" }
}
send_port "conditional" {
  host   = host.h
  filter = message.size > 1 ? message.receive_location == "in" : substr(message.id) == "x" # expect: BP1005
  transport "file" {
    path      = "out"
    file_name = "${message.size > 1 ? message.id : upper(message.id, 2)}.edi" # expect: BP1005
  }
}
send_port "nested" {
  host   = host.h
  filter = message.receive_location == "in" && (message.size > 1 ? true : !message.properties) # expect: BP1005
  transport "http" {
    url     = "https://partner.example/${message.size > 1 ? message.id : (message.size > 0 ? "x" : nosuch())}" # expect: BP1005
    headers = { "X-A" = message.size > 1 ? "a" : message.properties } # expect: BP1005
  }
}
# What a known operand spares is never evaluated, at run time either.
send_port "spared" {
  host   = host.h
  filter = var.partners != null && contains(var.partners, message.properties.partner) || local.on && upper(message.id, 1) == "X"
  transport "file" {
    path      = "out"
    file_name = local.on ? upper(message.id, 1) : message.id
  }
}
