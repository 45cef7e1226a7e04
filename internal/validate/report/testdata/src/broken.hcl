server "srv1" {
  other_people_store = certificate_store.srv1_other_people
