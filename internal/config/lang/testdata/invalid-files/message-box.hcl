group "g" {}
message_box {
  postgres {
    url = "mysql://root:secret@db/bizpipe" # expect: BP1004
  }
}
message_box { # expect: BP1002
  sqlite { path = "x.db" }
}
