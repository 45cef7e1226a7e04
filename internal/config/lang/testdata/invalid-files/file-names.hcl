# A file_name no message can make a plain file name suspends every
# delivery: validate refuses it.
group "g" {}
host "h" {}
variable "dir" {
  type = string
}
variable "sub" {
  type    = string
  default = "sub"
}
send_port "constant" {
  host   = host.h
  filter = message.receive_location == "in"
  transport "file" {
    path      = "out"
    file_name = "sub/orders.xml" # expect: BP1004
  }
}
send_port "prefix" {
  host   = host.h
  filter = message.receive_location == "in"
  transport "file" {
    path      = "out"
    file_name = "sub/${message.id}.xml" # expect: BP1004
  }
}
send_port "middle" {
  host   = host.h
  filter = message.receive_location == "in"
  transport "file" {
    path      = "out"
    file_name = "${var.dir}/${message.id}.xml" # expect: BP1004
  }
}
send_port "variable" {
  host   = host.h
  filter = message.receive_location == "in"
  transport "file" {
    path      = "out"
    file_name = "${var.sub}/orders.xml" # expect: BP1004
  }
}
send_port "fine" {
  host   = host.h
  filter = message.receive_location == "in"
  transport "file" {
    path      = "out/${var.sub}"
    file_name = "${var.dir}-${message.id}.xml"
  }
}
