# content_type labels every message a location receives and becomes its
# Content-Type header field: one that is not a MIME content type is BP1004
# at validate, not a suspended message at run time.
group "g" {}
host "h" {}
variable "ct" {
  type    = string
  default = "text/plain; charset=utf-8"
}
receive_location "injected" {
  host         = host.h
  content_type = "application xml\nX-Evil: 1" # expect: BP1004
  transport "file" { path = "in1" }
}
receive_location "no_subtype" {
  host         = host.h
  content_type = "application" # expect: BP1004
  transport "file" { path = "in2" }
}
receive_location "bad_parameter" {
  host         = host.h
  content_type = "text/plain; charset" # expect: BP1004
  transport "file" { path = "in3" }
}
receive_location "crlf" {
  host         = host.h
  content_type = "text/plain\r\nBcc: x@example.com" # expect: BP1004
  transport "file" { path = "in4" }
}
# Valid: parameters, a value from a variable, the default, and an upper
# case type (media types compare case-insensitively).
receive_location "parameters" {
  host         = host.h
  content_type = "text/plain; charset=\"utf-8\""
  transport "file" { path = "in5" }
}
receive_location "from_variable" {
  host         = host.h
  content_type = var.ct
  transport "file" { path = "in6" }
}
receive_location "defaulted" {
  host = host.h
  transport "file" { path = "in7" }
}
receive_location "upper_case" {
  host         = host.h
  content_type = "Application/EDI-X12"
  transport "file" { path = "in8" }
}
