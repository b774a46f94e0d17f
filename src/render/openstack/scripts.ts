// Small Python programs shipped in config Secrets, so they work with any image that carries the
// service's own libraries (ours or upstream Kolla's).

/**
 * Liveness/readiness for RPC services: an `oslo_rpc_server_ping` call (needs
 * `rpc_ping_enabled = true`) to this host's server on the topic. Exit 0 only if it answered.
 */
export const rpcPingPy = `import argparse, os, socket, sys

from oslo_config import cfg
import oslo_messaging
import oslo_messaging.opts

p = argparse.ArgumentParser(description='Ping an oslo.messaging RPC server')
p.add_argument('--config-file', action='append', default=[])
p.add_argument('--exchange', required=True, help="the project's control_exchange, e.g. nova")
p.add_argument('--topic', required=True)
# On nodes (host network) the service's host is the Kubernetes node name, given as NODE_NAME.
p.add_argument('--server', default=os.environ.get('NODE_NAME') or socket.gethostname())
p.add_argument('--timeout', type=int, default=20)
a = p.parse_args()
conf = cfg.ConfigOpts()
# Every oslo.messaging option (the RPC client reads some the transport does not register).
for group, opts in oslo_messaging.opts.list_opts():
    conf.register_opts(opts, group=group)
try:  # the RPC client's metrics switch lives in a private module
    from oslo_messaging._metrics import client as _metrics
    conf.register_opts(_metrics.oslo_messaging_metrics, group='oslo_messaging_metrics')
except (ImportError, AttributeError):
    pass
conf([], project='rpc-ping', default_config_files=a.config_file)
transport = oslo_messaging.get_rpc_transport(conf)
client = oslo_messaging.get_rpc_client(
    transport, oslo_messaging.Target(exchange=a.exchange, topic=a.topic, server=a.server), timeout=a.timeout)
try:
    client.call({}, 'oslo_rpc_server_ping')
except Exception as e:  # noqa: BLE001 - any failure means "not answering"
    print(f'{a.topic} on {a.server} did not answer: {e}', file=sys.stderr)
    sys.exit(1)
finally:
    transport.cleanup()
`;

/**
 * Keystone registration: project \`service\`, the service user with its roles, services and
 * endpoints. Idempotent: existing objects are updated to match, never duplicated.
 */
export const registerPy = `import json, sys, time

import openstack

spec = json.load(open(sys.argv[1]))
for attempt in range(120):
    try:
        conn = openstack.connect()
        conn.identity.get_token()
        break
    except Exception as e:  # noqa: BLE001
        print('waiting for Keystone:', e, flush=True)
        time.sleep(5)
else:
    sys.exit('Keystone did not answer')
idn = conn.identity
region = spec['region']
if not idn.find_region(region):
    idn.create_region(id=region)
default = idn.find_domain('Default')
project = idn.find_project('service', domain_id=default.id) or idn.create_project(
    name='service', domain_id=default.id, description='OpenStack services')
user = spec.get('user')
if user:
    u = idn.find_user(user['name'], domain_id=default.id)
    if u:
        idn.update_user(u, password=user['password'])
    else:
        u = idn.create_user(name=user['name'], password=user['password'], domain_id=default.id)
    for role_name in user['roles']:
        role = idn.find_role(role_name) or idn.create_role(name=role_name)
        idn.assign_project_role_to_user(project, u, role)
    print(f"user {user['name']} is ready")
for svc in spec['services']:
    s = next(iter(idn.services(type=svc['type'], name=svc['name'])), None)
    if not s:
        s = idn.create_service(type=svc['type'], name=svc['name'], is_enabled=True)
    for interface, url in sorted(svc['urls'].items()):
        found = list(idn.endpoints(service_id=s.id, interface=interface, region_id=region))
        if found:
            for extra in found[1:]:
                idn.delete_endpoint(extra)
            if found[0].url != url:
                idn.update_endpoint(found[0], url=url)
        else:
            idn.create_endpoint(service_id=s.id, interface=interface, url=url, region_id=region)
    print(f"{svc['type']} service {svc['name']} and its endpoints are registered")
`;
