# Run by `stackanetes up` in the cloud's openstack-client pod (src/openstack/guest-setup.ts):
# python3 -c <this file> <settings as JSON>. One Python process with openstacksdk (what the
# `openstack` command line uses underneath) does the set-up for guests: starting the command
# line once per call cost ~2 s of CPU each, ~25 times. Each step looks before it creates, so a
# second run changes nothing. The admin credentials come from the pod (OS_CLOUD, clouds.yaml).
import json
import os
import sys

import openstack

s = json.loads(sys.argv[1])


def say(line):
    print(line, flush=True)


conn = openstack.connect()

# The image: replaced when the project's build changed (another sha256).
image_name = s["image"]["name"]
mine = None
old = []
for img in conn.image.images(name=image_name):
    props = img.properties or {}
    if props.get("stackanetes_guest_sha256") == s["image"]["sha256"] and img.status == "active":
        mine = mine or img
    else:
        old.append(img)
if mine is None and not os.path.exists(s["image"]["file"]):
    # Copied into the pod only when Glance does not have this build: asked for by exit code 3.
    say(f"image {image_name}: to upload")
    sys.exit(3)
if mine is None:
    for img in old:
        conn.image.update_image(img, name=f"{image_name}-old-{img.id}")
    conn.image.create_image(
        name=image_name,
        filename=s["image"]["file"],
        disk_format="raw",
        container_format="bare",
        visibility="public",
        wait=True,
        validate_checksum=False,
        stackanetes_guest_sha256=s["image"]["sha256"],
        os_distro="stackanetes-guest",
        os_type="linux",
        kernel_version=s["image"]["kernelVersion"],
        # Nova waits this long for the ACPI power button before it stops a guest hard.
        os_shutdown_timeout="30",
    )
    say(f"image {image_name}: uploaded")
else:
    say(f"image {image_name}: already there ({mine.id})")
if os.path.exists(s["image"]["file"]):
    os.remove(s["image"]["file"])

f = s["flavor"]
if conn.compute.find_flavor(f["name"], ignore_missing=True) is None:
    conn.compute.create_flavor(
        name=f["name"], vcpus=f["vcpus"], ram=f["ramMb"], disk=f["diskGb"], is_public=True
    )
    say(f"flavor {f['name']}: created")

ext = s.get("external")
ext_net = None
if ext:
    ext_net = conn.network.find_network(ext["network"], ignore_missing=True)
    if ext_net is None:
        ext_net = conn.network.create_network(
            name=ext["network"],
            is_router_external=True,
            is_shared=True,
            provider_network_type="flat",
            provider_physical_network=ext["physnet"],
        )
        say(f"network {ext['network']}: created (flat, {ext['physnet']})")
    if conn.network.find_subnet(ext["subnet"], ignore_missing=True) is None:
        conn.network.create_subnet(
            name=ext["subnet"],
            network_id=ext_net.id,
            ip_version=4,
            cidr=ext["cidr"],
            gateway_ip=ext["gateway"],
            allocation_pools=[{"start": ext["poolStart"], "end": ext["poolEnd"]}],
            is_dhcp_enabled=False,
        )
        say(
            f"subnet {ext['subnet']}: {ext['cidr']}, floating IPs {ext['poolStart']}-{ext['poolEnd']}"
        )

t = s["tenant"]
net = conn.network.find_network(t["network"], ignore_missing=True)
if net is None:
    net = conn.network.create_network(name=t["network"])
    say(f"network {t['network']}: created")
subnet = conn.network.find_subnet(t["subnet"], ignore_missing=True)
if subnet is None:
    subnet = conn.network.create_subnet(
        name=t["subnet"], network_id=net.id, ip_version=4, cidr=t["cidr"]
    )
    say(f"subnet {t['subnet']}: {t['cidr']}")
router = conn.network.find_router(t["router"], ignore_missing=True)
if router is None:
    router = conn.network.create_router(name=t["router"])
    say(f"router {t['router']}: created")
if ext_net is not None and not router.external_gateway_info:
    conn.network.update_router(router, external_gateway_info={"network_id": ext_net.id})
    say(f"router {t['router']}: gateway on {ext['network']}")
on_subnet = any(
    ip.get("subnet_id") == subnet.id
    for port in conn.network.ports(device_id=router.id)
    for ip in port.fixed_ips or []
)
if not on_subnet:
    conn.network.add_interface_to_router(router, subnet_id=subnet.id)
    say(f"router {t['router']}: interface on {t['subnet']}")

# The admin project's default security group: ping and SSH from anywhere.
project = conn.identity.find_project("admin", ignore_missing=False)
sg = next(
    g for g in conn.network.security_groups(project_id=project.id) if g.name == "default"
)
rules = list(conn.network.security_group_rules(security_group_id=sg.id))


def has(protocol, port=None):
    return any(
        r.direction == "ingress"
        and r.protocol == protocol
        and (port is None or (r.port_range_min == port and r.port_range_max == port))
        for r in rules
    )


if not has("icmp"):
    conn.network.create_security_group_rule(
        security_group_id=sg.id,
        direction="ingress",
        ethertype="IPv4",
        protocol="icmp",
        remote_ip_prefix="0.0.0.0/0",
    )
    say("security group default: ICMP in")
if not has("tcp", 22):
    conn.network.create_security_group_rule(
        security_group_id=sg.id,
        direction="ingress",
        ethertype="IPv4",
        protocol="tcp",
        port_range_min=22,
        port_range_max=22,
        remote_ip_prefix="0.0.0.0/0",
    )
    say("security group default: SSH in")
