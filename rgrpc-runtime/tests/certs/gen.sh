#!/usr/bin/env bash
# Regenerates rgrpc's own test PKI in this directory with openssl (the files next to this
# script are its output, committed so tests need no openssl). Every key is ECDSA P-256.
#
#   ca.pem                the test CA (its key is not kept: nothing else is signed later)
#   server.pem/.key       localhost, *.test.rgrpc, 127.0.0.1, ::1; serverAuth; chain = leaf
#   server-chain.pem/.key the same names, signed by an intermediate; file = leaf + intermediate
#   client.pem/.key       mTLS client: URI spiffe://rgrpc.test/client, DNS client.rgrpc.test,
#                         subject CN=client,O=rgrpc,C=US; clientAuth
#   client2.pem/.key      another client: URI spiffe://rgrpc.test/other, CN=other
#   expired.pem/.key      localhost, valid only during 2000
#   notyet.pem/.key       localhost, valid only from 2100
#   wronghost.pem/.key    names only wrong.example
#   selfsigned.pem/.key   localhost, signed by itself
#   other-ca.pem          a CA nobody trusts; unknown-ca.pem/.key (localhost) and
#                         client-unknown-ca.pem/.key (a client cert) are signed by it
#
# Usage: rgrpc-runtime/tests/certs/gen.sh   (rewrites the files; commit the result)
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

LONG=36500 # days: a century, so the committed files do not expire under the tests

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# ca NAME SUBJECT: a self-signed CA
ca() {
  key "$work/$1.key"
  openssl req -x509 -new -key "$work/$1.key" -subj "$2" -days $LONG -out "$1.pem" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash"
}

# leaf NAME SUBJECT ISSUER EXTENSIONS [STARTDATE ENDDATE]: a leaf signed by ISSUER with
# `openssl ca`, which (unlike `x509 -req` in openssl 3.0) can set the validity dates.
leaf() {
  local name=$1 subject=$2 issuer=$3 ext=$4 start=${5:-} end=${6:-}
  key "$name.key"
  openssl req -new -key "$name.key" -subj "$subject" -out "$work/$name.csr"
  mkdir -p "$work/db-$name"
  : >"$work/db-$name/index.txt"
  printf '%s\n' "$(openssl rand -hex 16)" >"$work/db-$name/serial"
  cat >"$work/$name.cnf" <<CNF
[ca]
default_ca = this
[this]
dir = $work/db-$name
database = \$dir/index.txt
serial = \$dir/serial
new_certs_dir = \$dir
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = optional
organizationName = optional
countryName = optional
[ext]
$ext
CNF
  local dates=(-days $LONG)
  if [ -n "$start" ]; then dates=(-startdate "$start" -enddate "$end"); fi
  openssl ca -batch -notext -config "$work/$name.cnf" -extensions ext \
    -cert "$issuer.pem" -keyfile "$work/$issuer.key" "${dates[@]}" \
    -in "$work/$name.csr" -out "$name.pem" 2>/dev/null
}

SERVER_EXT="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,DNS:*.test.rgrpc,IP:127.0.0.1,IP:::1"
LOCALHOST_EXT="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1"

ca ca "/O=rgrpc/CN=rgrpc test CA"
leaf server "/O=rgrpc/CN=localhost" ca "$SERVER_EXT"

# An intermediate CA, so the chain-sending path is exercised.
leaf intermediate "/O=rgrpc/CN=rgrpc test intermediate" ca "basicConstraints=critical,CA:TRUE,pathlen:0
keyUsage=critical,keyCertSign,cRLSign"
mv intermediate.key "$work/intermediate.key"
leaf server-chain "/O=rgrpc/CN=localhost" intermediate "$SERVER_EXT"
cat intermediate.pem >>server-chain.pem
rm intermediate.pem

leaf client "/C=US/O=rgrpc/CN=client" ca "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
subjectAltName=URI:spiffe://rgrpc.test/client,DNS:client.rgrpc.test"
leaf client2 "/O=rgrpc/CN=other" ca "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
subjectAltName=URI:spiffe://rgrpc.test/other"
leaf expired "/O=rgrpc/CN=localhost" ca "$LOCALHOST_EXT" 20000101000000Z 20001231000000Z
leaf notyet "/O=rgrpc/CN=localhost" ca "$LOCALHOST_EXT" 21000101000000Z 21001231000000Z
leaf wronghost "/O=rgrpc/CN=wrong.example" ca "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:wrong.example"

# A self-signed leaf (CA:FALSE), as tools that make one-off server certificates do; a client
# that trusts exactly this certificate accepts it.
key selfsigned.key
openssl req -x509 -new -key selfsigned.key -subj "/O=rgrpc/CN=localhost" -days $LONG \
  -addext "basicConstraints=critical,CA:FALSE" \
  -addext "keyUsage=critical,digitalSignature" \
  -addext "extendedKeyUsage=serverAuth" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -out selfsigned.pem

ca other-ca "/O=elsewhere/CN=untrusted CA"
leaf unknown-ca "/O=elsewhere/CN=localhost" other-ca "$LOCALHOST_EXT"
leaf client-unknown-ca "/O=elsewhere/CN=client" other-ca "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
subjectAltName=URI:spiffe://rgrpc.test/client"

# PKCS#8 keys as openssl writes them; tests also cover SEC1 via this one conversion.
openssl ec -in client2.key -out client2.key 2>/dev/null
echo "wrote $(ls ./*.pem ./*.key | wc -l) files into $(pwd)"
