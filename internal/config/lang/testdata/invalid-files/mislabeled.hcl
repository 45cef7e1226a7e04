# A block with a label too few or too many is one error (HCL's), not also
# "No group block" or "Missing transport block" for a block that is there.
group { # expect: BP1004
}
host "h" {}
receive_location "r" {
  host = host.h
  transport { # expect: BP1004
    path = "in"
  }
}
send_port "s" {
  host   = host.h
  filter = message.receive_location == "r"
  transport "file" "out" { # expect: BP1004
    path = "out"
  }
}
