#!/usr/bin/env bash
# Prepare a three-agency federation for deploy/compose.yaml: keys, API
# certificates, node configs and a genesis every founder signed. Node
# addresses are the compose service names on the private network.
set -euo pipefail
out=${1:?usage: compose-prepare.sh DIR}
raaft=${RAAFT:-bin/raaft}
mkdir -p "$out"
recs=()
for spec in "north-raa north RAA false SC900001" "capital-raa capital RAA true SC900002" "hope-vaa hope VAA false SC900003"; do
  read -r id svc kind london urn <<<"$spec"
  args=(init --dir "$out/$id" --agency "$id" --urn "$urn" --name "$id (demo)" --kind "$kind"
        --raft-addr "$svc:7400" --api-addr "0.0.0.0:8440" --api-host "$svc" --genesis /etc/genesis.json)
  [ "$london" = true ] && args+=(--london)
  "$raaft" "${args[@]}" >/dev/null
  # inside the container: data in the volume, dev tokens trusted, bind on all interfaces
  sed -i -e 's#^  data_dir: data#  data_dir: /var/lib/raaft#' -e 's#^  bind_addr: .*#  bind_addr: 0.0.0.0:7400\n  advertise_addr: '"$svc"':7400#' \
         -e 's#^  dev_issuer: false#  dev_issuer: true#' "$out/$id/node.yaml"
  chmod -R a+rX "$out/$id"
  chmod 600 "$out/$id"/*.key # keys: the container's user (root) only
  recs+=("$out/$id/agency.json")
done
"$raaft" genesis new --federation raaft-compose --out "$out/genesis.json" "${recs[@]}" >/dev/null
for id in north-raa capital-raa hope-vaa; do
  "$raaft" genesis sign --in "$out/genesis.json" --key "$out/$id/agency.key" --agency "$id" >/dev/null
done
"$raaft" genesis verify --in "$out/genesis.json"
