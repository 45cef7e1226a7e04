#!/usr/bin/env bash
# Regenerates the DEMO PKI of the examples. DEMO ONLY: these private keys are
# committed and therefore public; never use them for real traffic.
#
# Certificates are valid until 2080 so the examples keep validating clean.
# After regenerating, update the thumbprints in the examples' .hcl files
# (bizpipe certs examples/quickstart prints them).
set -euo pipefail
cd "$(dirname "$0")"
pki=$(mktemp -d)
trap 'rm -rf "$pki"' EXIT
days=$(( ( $(date -d 2080-01-01 +%s) - $(date +%s) ) / 86400 ))
pass=demo-only

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$pki/ca.key" -out "$pki/ca.pem" -days "$days" \
  -subj "/O=bizpipe demo/CN=bizpipe Demo CA (DEMO ONLY)" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

issue() { # name cn
  openssl req -newkey rsa:2048 -nodes -keyout "$pki/$1.key" -out "$pki/$1.csr" -subj "/O=bizpipe demo/CN=$2" 2>/dev/null
  openssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -CAcreateserial -out "$pki/$1.pem" -days "$days" \
    -extfile <(printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=emailProtection\nsubjectAltName=email:%s@example.com\n' "$1") 2>/dev/null
}
issue contoso-signing "Contoso Signing (DEMO ONLY)"
issue fabrikam "Fabrikam Partner (DEMO ONLY)"

for ex in quickstart misconfigured; do
  rm -rf "$ex/stores" "$ex/partner"
  mkdir -p "$ex/stores/svc_send" "$ex/stores/srv1_other_people" "$ex/partner"
  # Personal store: certificate and key in a password-protected PKCS#12 (modern AES).
  openssl pkcs12 -export -in "$pki/contoso-signing.pem" -inkey "$pki/contoso-signing.key" -certfile "$pki/ca.pem" \
    -name "Contoso Signing" -passout "pass:$pass" -out "$ex/stores/svc_send/contoso-signing.p12"
  # Other-people store: the partner's public certificate only.
  cp "$pki/fabrikam.pem" "$ex/stores/srv1_other_people/fabrikam.pem"
done
# What the partner holds, to decrypt and verify the quickstart's output with openssl.
cp "$pki/fabrikam.pem" "$pki/fabrikam.key" "$pki/ca.pem" quickstart/partner/
# ...and to encrypt for us (examples/inbound).
cp "$pki/contoso-signing.pem" quickstart/partner/contoso.pem
rm -rf misconfigured/partner

# as2: Fabrikam's own bizpipe (examples/as2/fabrikam) holds its certificate
# and key, and Contoso's certificate to verify with.
rm -rf as2/fabrikam/stores
mkdir -p as2/fabrikam/stores/svc_recv as2/fabrikam/stores/srv1_other_people
openssl pkcs12 -export -in "$pki/fabrikam.pem" -inkey "$pki/fabrikam.key" -certfile "$pki/ca.pem" \
  -name "Fabrikam Partner" -passout "pass:$pass" -out as2/fabrikam/stores/svc_recv/fabrikam.p12
cp "$pki/contoso-signing.pem" as2/fabrikam/stores/srv1_other_people/contoso.pem

# misconfigured: srv2's service account has the signing certificate but not its key.
mkdir -p misconfigured/stores/svc_send2 misconfigured/stores/srv2_other_people
cp "$pki/contoso-signing.pem" misconfigured/stores/svc_send2/contoso-signing.pem
cp "$pki/fabrikam.pem" misconfigured/stores/srv2_other_people/fabrikam.pem

echo "signing SHA-1:  $(openssl x509 -in "$pki/contoso-signing.pem" -noout -fingerprint -sha1 | cut -d= -f2)"
echo "fabrikam SHA-1: $(openssl x509 -in "$pki/fabrikam.pem" -noout -fingerprint -sha1 | cut -d= -f2)"
