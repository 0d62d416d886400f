#!/usr/bin/env bash
# Creates a ROS 2 security (SROS2) keystore for the memory stack with openssl alone (the `sros2`
# package is not on PyPI). Layout and file names are those `ros2 security create_keystore` and
# `create_enclave` write, so rcl finds them with ROS_SECURITY_KEYSTORE + an enclave name:
#
#   KEYSTORE/public/{identity_ca,permissions_ca}.cert.pem     the two certificate authorities
#   KEYSTORE/private/{identity_ca,permissions_ca}.key.pem     their keys (keep these offline)
#   KEYSTORE/enclaves/governance.{xml,p7s}                    what the domain protects
#   KEYSTORE/enclaves/memory_nodes/<node>/                    one enclave per node:
#       cert.pem key.pem identity_ca.cert.pem permissions_ca.cert.pem
#       governance.p7s permissions.xml permissions.p7s
#
# The permissions give each memory input one writer: only perception publishes `observations`,
# only the planner publishes `action_effects` and asks memory to forget (`report_missing`),
# only short-term memory publishes `consolidations`, and only the operator enclave (the demo,
# the command line) loads a file into memory or resets the map. Everything else may be read and
# written by every enclave of the stack. The .p7s files are S/MIME signed by the permissions CA.
#
# Usage: scripts/make_security_keystore.sh KEYSTORE [DOMAIN_ID_RANGE]   (default range 0-232)
# Check a signed file: openssl smime -verify -in F.p7s -CAfile KEYSTORE/public/permissions_ca.cert.pem
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 KEYSTORE [DOMAIN_ID_RANGE, e.g. 0-232]" >&2
  exit 2
fi
KEYSTORE="$1"
RANGE="${2:-0-232}"
if ! [[ "$RANGE" =~ ^([0-9]+)-([0-9]+)$ ]] || [ "${BASH_REMATCH[1]}" -gt "${BASH_REMATCH[2]}" ] \
    || [ "${BASH_REMATCH[2]}" -gt 232 ]; then
  echo "$0: error: domain id range must be LOW-HIGH within 0-232, got '$RANGE'" >&2
  exit 2
fi
DOMAIN_MIN="${BASH_REMATCH[1]}"
DOMAIN_MAX="${BASH_REMATCH[2]}"
if [ -e "$KEYSTORE/public/identity_ca.cert.pem" ]; then
  echo "$0: error: $KEYSTORE already holds a keystore; remove it or choose another folder" >&2
  exit 2
fi
command -v openssl >/dev/null || { echo "$0: error: openssl is not installed" >&2; exit 2; }

# The enclaves of the stack (one per node executable, plus the operator's tools).
ENCLAVES=(perception_node memory_server short_term_memory_node planner_node octree_node
          sim_bridge_node operator)
# DDS topic (ROS topic "x" is "rt/x", a service request "rq/<service>Request") -> its one writer.
# Each topic is also matched under any namespace ("rt/*/x").
OWNED_TOPICS=(
  "rt/observations perception_node"
  "rt/action_effects planner_node"
  "rt/consolidations short_term_memory_node"
  "rq/memory_server/report_missingRequest planner_node"
  "rq/short_term_memory/report_missingRequest planner_node"
  "rq/memory_server/load_memoryRequest operator"
  "rq/octree/loadRequest operator"
  "rq/octree/resetRequest operator"
  "rq/octree/clear_boxRequest operator"
)
DAYS=3650
NOT_BEFORE="$(date -u +%Y-%m-%dT%H:%M:%S)"
NOT_AFTER="$(date -u -d "+$DAYS days" +%Y-%m-%dT%H:%M:%S)"

umask 077
mkdir -p "$KEYSTORE/public" "$KEYSTORE/private" "$KEYSTORE/enclaves/memory_nodes"
PUBLIC="$KEYSTORE/public"
PRIVATE="$KEYSTORE/private"

new_key() {  # ECDSA P-256, as sros2 uses
  openssl ecparam -name prime256v1 -genkey -noout -out "$1.tmp"
  openssl pkcs8 -topk8 -nocrypt -in "$1.tmp" -out "$1"
  rm -f "$1.tmp"
}

new_ca() {  # name, common name
  new_key "$PRIVATE/$1.key.pem"
  openssl req -x509 -new -sha256 -key "$PRIVATE/$1.key.pem" -days "$DAYS" \
    -subj "/CN=$2" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" -out "$PUBLIC/$1.cert.pem" 2>/dev/null
}

sign_smime() {  # in, out: S/MIME signed by the permissions CA (detached, text, as sros2 does)
  openssl smime -sign -text -in "$1" -out "$2" -signer "$PUBLIC/permissions_ca.cert.pem" \
    -inkey "$PRIVATE/permissions_ca.key.pem" -md sha256
}

new_ca identity_ca "memory_nodes identity CA"
new_ca permissions_ca "memory_nodes permissions CA"
ln -s identity_ca.cert.pem "$PUBLIC/ca.cert.pem"
ln -s identity_ca.key.pem "$PRIVATE/ca.key.pem"

cat > "$KEYSTORE/enclaves/governance.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<dds xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
     xsi:noNamespaceSchemaLocation="http://www.omg.org/spec/DDS-SECURITY/20170901/omg_shared_ca_governance.xsd">
  <domain_access_rules>
    <domain_rule>
      <domains><id_range><min>$DOMAIN_MIN</min><max>$DOMAIN_MAX</max></id_range></domains>
      <!-- Every participant must prove its identity and hold signed permissions. -->
      <allow_unauthenticated_participants>false</allow_unauthenticated_participants>
      <enable_join_access_control>true</enable_join_access_control>
      <discovery_protection_kind>ENCRYPT</discovery_protection_kind>
      <liveliness_protection_kind>ENCRYPT</liveliness_protection_kind>
      <rtps_protection_kind>SIGN</rtps_protection_kind>
      <topic_access_rules>
        <topic_rule>
          <topic_expression>*</topic_expression>
          <enable_discovery_protection>true</enable_discovery_protection>
          <enable_liveliness_protection>true</enable_liveliness_protection>
          <enable_read_access_control>true</enable_read_access_control>
          <enable_write_access_control>true</enable_write_access_control>
          <metadata_protection_kind>ENCRYPT</metadata_protection_kind>
          <data_protection_kind>ENCRYPT</data_protection_kind>
        </topic_rule>
      </topic_access_rules>
    </domain_rule>
  </domain_access_rules>
</dds>
EOF
sign_smime "$KEYSTORE/enclaves/governance.xml" "$KEYSTORE/enclaves/governance.p7s"

permissions_xml() {  # enclave -> the permissions document of that enclave
  local enclave="$1" entry topic owner denied=""
  for entry in "${OWNED_TOPICS[@]}"; do
    read -r topic owner <<<"$entry"
    if [ "$owner" != "$enclave" ]; then
      denied+="            <topic>$topic</topic>
            <topic>${topic%%/*}/*/${topic#*/}</topic>
"
    fi
  done
  cat <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<dds xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
     xsi:noNamespaceSchemaLocation="http://www.omg.org/spec/DDS-SECURITY/20170901/omg_shared_ca_permissions.xsd">
  <permissions>
    <grant name="/memory_nodes/$enclave">
      <subject_name>CN=/memory_nodes/$enclave</subject_name>
      <validity><not_before>$NOT_BEFORE</not_before><not_after>$NOT_AFTER</not_after></validity>
      <!-- Rules apply in order: the inputs of memory owned by another enclave come first. -->
      <deny_rule>
        <domains><id_range><min>$DOMAIN_MIN</min><max>$DOMAIN_MAX</max></id_range></domains>
        <publish>
          <topics>
$denied          </topics>
        </publish>
      </deny_rule>
      <allow_rule>
        <domains><id_range><min>$DOMAIN_MIN</min><max>$DOMAIN_MAX</max></id_range></domains>
        <publish><topics><topic>*</topic></topics></publish>
        <subscribe><topics><topic>*</topic></topics></subscribe>
      </allow_rule>
      <default>DENY</default>
    </grant>
  </permissions>
</dds>
EOF
}

for enclave in "${ENCLAVES[@]}"; do
  dir="$KEYSTORE/enclaves/memory_nodes/$enclave"
  mkdir -p "$dir"
  new_key "$dir/key.pem"
  # The common name is the enclave path; its slashes are escaped for -subj.
  openssl req -new -sha256 -key "$dir/key.pem" -subj "/CN=\\/memory_nodes\\/$enclave" \
    -out "$dir/request.csr"
  openssl x509 -req -sha256 -in "$dir/request.csr" -CA "$PUBLIC/identity_ca.cert.pem" \
    -CAkey "$PRIVATE/identity_ca.key.pem" -CAcreateserial -days "$DAYS" \
    -extfile <(printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n') \
    -out "$dir/cert.pem" 2>/dev/null
  rm -f "$dir/request.csr"
  cp "$PUBLIC/identity_ca.cert.pem" "$PUBLIC/permissions_ca.cert.pem" "$dir/"
  cp "$KEYSTORE/enclaves/governance.p7s" "$dir/governance.p7s"
  permissions_xml "$enclave" > "$dir/permissions.xml"
  sign_smime "$dir/permissions.xml" "$dir/permissions.p7s"
done
rm -f "$PUBLIC"/*.srl
chmod -R go-w "$KEYSTORE"
chmod 600 "$PRIVATE"/*.pem "$KEYSTORE"/enclaves/memory_nodes/*/key.pem
chmod 644 "$PUBLIC"/*.pem "$KEYSTORE"/enclaves/governance.* \
  "$KEYSTORE"/enclaves/memory_nodes/*/{cert.pem,*_ca.cert.pem,*.p7s,permissions.xml}
find "$KEYSTORE" -type d -exec chmod 755 {} +
chmod 700 "$PRIVATE"
echo "keystore: $KEYSTORE (${#ENCLAVES[@]} enclaves under /memory_nodes, domains $RANGE)"
