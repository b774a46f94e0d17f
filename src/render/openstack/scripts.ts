// Small Python programs shipped in config Secrets, so they work with any image that carries the
// service's own libraries (ours or upstream Kolla's).

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

/** Creates a service's RabbitMQ vhost and user, through the management API, as its admin. */
export const rabbitInitPy = `import base64, json, sys, time, urllib.error, urllib.parse, urllib.request

spec = json.load(open(sys.argv[1]))
auth = base64.b64encode(f"{spec['admin']['user']}:{spec['admin']['password']}".encode()).decode()


def call(method, path, body=None):
    req = urllib.request.Request(spec['url'] + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={'Authorization': 'Basic ' + auth, 'Content-Type': 'application/json'})
    return urllib.request.urlopen(req, timeout=30)


for attempt in range(200):
    try:
        call('GET', '/api/overview')
        break
    except (urllib.error.URLError, OSError) as e:
        print('waiting for RabbitMQ:', e, flush=True)
        time.sleep(3)
else:
    sys.exit('RabbitMQ did not answer')
vhost = urllib.parse.quote(spec['vhost'], safe='')
user = urllib.parse.quote(spec['user'], safe='')
call('PUT', f'/api/vhosts/{vhost}', {})
call('PUT', f'/api/users/{user}', {'password': spec['password'], 'tags': ''})
call('PUT', f'/api/permissions/{vhost}/{user}', {'configure': '.*', 'write': '.*', 'read': '.*'})
print(f"vhost {spec['vhost']} and user {spec['user']} are ready")
`;
