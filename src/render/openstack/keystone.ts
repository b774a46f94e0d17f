// Keystone: the identity API, its database and bootstrap, and Fernet keys kept in a Secret that
// a CronJob rotates (the Secret is created once and then owned by the rotation, not re-applied).
import { labels, meta, type Ctx } from '../context.ts';
import { createOnlyAnnotation, type CronJob, type KubeObject, type Secret } from '../kube.ts';
import { restrictedUid } from '../../catalog/images.ts';
import { jobCpuRequest, toolboxEnv } from '../jobs.ts';
import { accountRole } from '../rbac.ts';
import { kollaConfig, type ConfigFile } from '../kolla.ts';
import { timing } from '../probes.ts';
import { deployment, kollaContainer, podTemplate, serviceAccount } from '../workload.ts';
import { keystoneInternalUrl, keystonePublicUrl } from './endpoints.ts';
import { adminCloudsYaml, serviceJob } from './service-jobs.ts';
import { wsgiService } from './wsgi.ts';

const managedByLabel = 'app.kubernetes.io/managed-by';

const fernetSecret = 'keystone-fernet-keys';
const credentialSecret = 'keystone-credential-keys';
export const adminSecret = 'keystone-admin';

/**
 * Keystone is loaded once, by the uWSGI master, and its workers are forked from it: a new pod
 * imports Keystone once instead of once per worker at the same time (6–8 s each on 2 cores), and
 * a worker that dies is replaced by a fork in milliseconds. What the master opens before the fork
 * stays safe to share: oslo.db records the process that opened each pooled connection and
 * reconnects in a worker that finds one from its parent; the Fernet keys are read from the key
 * repository on every token operation, never kept; the memcached pool connects on first use,
 * which is in a worker. `need-app` makes a master whose Keystone failed to load exit (and the
 * container restart) instead of serving "no python application found".
 */
const preforked = { 'lazy-apps': false, 'need-app': true };

export function renderKeystone(ctx: Ctx): KubeObject[] {
  const keyMounts = [
    { name: 'fernet-keys', mountPath: '/etc/keystone/fernet-keys', readOnly: true },
    { name: 'credential-keys', mountPath: '/etc/keystone/credential-keys', readOnly: true },
  ];
  const keyVolumes = [
    { name: 'fernet-keys', secret: { secretName: fernetSecret, defaultMode: 0o440 } },
    { name: 'credential-keys', secret: { secretName: credentialSecret, defaultMode: 0o440 } },
  ];
  const { conf, objects } = wsgiService(ctx, 'keystone', {
    uwsgi: preforked,
    volumes: keyVolumes,
    mounts: keyMounts,
  });
  const internal = keystoneInternalUrl(ctx);
  return [
    ...objects,
    keySecret(ctx, fernetSecret, ctx.secrets.fernetKeys),
    keySecret(ctx, credentialSecret, ctx.secrets.credentialKeys),
    adminCredentials(ctx),
    ...serviceJob(ctx, 'keystone', {
      task: 'bootstrap',
      image: ctx.catalog.services.keystone.processes[0]!.image,
      files: [conf],
      // keystone-manage refuses to start with an empty key repository.
      volumes: keyVolumes,
      mounts: keyMounts,
      extra: { 'admin-password': ctx.secrets.keystoneAdmin },
      script: [
        'keystone-manage --config-file /etc/keystone/keystone.conf bootstrap \\',
        // The = form: a password given in the spec may start with a dash.
        '  --bootstrap-password="$(cat /var/lib/kolla/config_files/admin-password)" \\',
        '  --bootstrap-username admin --bootstrap-project-name admin --bootstrap-role-name admin \\',
        `  --bootstrap-admin-url ${internal}/v3 --bootstrap-internal-url ${internal}/v3 \\`,
        `  --bootstrap-public-url ${keystonePublicUrl(ctx)}/v3 --bootstrap-region-id ${ctx.spec.region}`,
        'echo "Keystone is bootstrapped"',
      ].join('\n'),
    }),
    ...rotation(ctx, conf),
    ...openstackClient(ctx),
  ];
}

/**
 * A pod with the `openstack` command line and the admin credentials (clouds.yaml, cloud
 * `admin`), for people and checks: `kubectl -n <ns> exec deploy/openstack-client -- openstack …`.
 */
function openstackClient(ctx: Ctx): KubeObject[] {
  const name = 'openstack-client';
  const clouds: ConfigFile = {
    name: 'clouds.yaml',
    dest: '/etc/openstack/clouds.yaml',
    content: adminCloudsYaml(ctx),
    owner: 'root',
    perm: '0600',
  };
  const config = kollaConfig(ctx, 'keystone', name, 'sleep infinity', [clouds]);
  const container = kollaContainer(ctx, {
    name,
    image: ctx.catalog.toolbox,
    config,
    env: [{ name: 'OS_CLOUD', value: 'admin' }, ...toolboxEnv],
    cpu: '10m',
    memory: ctx.catalog.memory.client,
  });
  // Started (and so Ready) once the credentials are in place. A tool that waits for `kubectl
  // exec`: nothing to take work away from and nothing to restart, so no probe after that.
  container.startupProbe = {
    exec: { command: ['test', '-s', '/etc/openstack/clouds.yaml'] },
    ...timing.start.exec,
  };
  return [
    serviceAccount(ctx, name, 'keystone'),
    config.secret,
    deployment(ctx, name, 1, {
      component: 'keystone',
      part: 'client',
      role: 'controlPlane',
      containers: [container],
      volumes: [config.volume],
      configHash: config.hash,
      serviceAccountName: name,
      terminationGracePeriodSeconds: 5,
      user: restrictedUid(ctx.catalog.toolbox),
    }),
  ];
}

function keySecret(ctx: Ctx, name: string, keys: Readonly<Record<string, string>>): KubeObject {
  const s: Secret & KubeObject = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: meta(ctx, name, 'keystone', 'keys', { [createOnlyAnnotation]: 'true' }),
    type: 'Opaque',
    stringData: { ...keys },
  };
  return s;
}

/** The admin credentials, as environment variables and as clouds.yaml, for people and checks. */
function adminCredentials(ctx: Ctx): KubeObject {
  const s: Secret & KubeObject = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: meta(ctx, adminSecret, 'keystone', 'admin'),
    type: 'Opaque',
    stringData: {
      OS_AUTH_URL: `${keystonePublicUrl(ctx)}/v3`,
      OS_IDENTITY_API_VERSION: '3',
      OS_PASSWORD: ctx.secrets.keystoneAdmin,
      OS_PROJECT_DOMAIN_NAME: 'Default',
      OS_PROJECT_NAME: 'admin',
      OS_REGION_NAME: ctx.spec.region,
      OS_USER_DOMAIN_NAME: 'Default',
      OS_USERNAME: 'admin',
      'clouds.yaml': adminCloudsYaml(ctx, keystonePublicUrl(ctx)),
    },
  };
  return s;
}

/**
 * Daily Fernet key rotation: the job rotates a copy of the repository with keystone-manage and
 * writes it back to the Secret (optimistic concurrency on resourceVersion). Running pods see the
 * new keys when the kubelet refreshes the mounted Secret; tokens stay valid across one rotation.
 */
function rotation(ctx: Ctx, conf: ConfigFile): KubeObject[] {
  const sa = 'keystone-rotate';
  const keystoneImage = ctx.catalog.services.keystone.processes[0]!.image;
  const config = kollaConfig(
    ctx,
    'keystone',
    'rotate',
    'python3 /var/lib/kolla/config_files/rotate.py',
    [conf],
    {
      extra: { 'rotate.py': rotatePy(ctx) },
    },
  );
  const template = podTemplate(ctx, {
    component: 'keystone',
    part: 'rotate',
    role: 'controlPlane',
    containers: [
      kollaContainer(ctx, {
        name: 'rotate',
        image: keystoneImage,
        config,
        cpu: jobCpuRequest,
        memory: ctx.catalog.memory.job,
      }),
    ],
    volumes: [config.volume],
    configHash: config.hash,
    serviceAccountName: sa,
    user: restrictedUid(keystoneImage),
  });
  template.spec.automountServiceAccountToken = true;
  template.spec.restartPolicy = 'OnFailure';
  // The Jobs the CronJob creates belong to it, not to the cloud. Without labels of their own they
  // would take the pod template's, `managed-by: stackanetes` among them, and the operator would
  // prune them as objects the spec does not name, in the middle of a rotation.
  const { [managedByLabel]: _managed, ...jobLabels } = labels(ctx, 'keystone', 'rotate');
  const cron: CronJob & KubeObject = {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: meta(ctx, 'keystone-fernet-rotate', 'keystone', 'rotate'),
    spec: {
      schedule: '17 3 * * *',
      concurrencyPolicy: 'Forbid',
      successfulJobsHistoryLimit: 1,
      failedJobsHistoryLimit: 3,
      jobTemplate: { metadata: { labels: jobLabels }, spec: { backoffLimit: 3, template } },
    },
  };
  const account = serviceAccount(ctx, sa, 'keystone');
  const role = accountRole(ctx, sa, 'keystone', 'rotate', [
    {
      apiGroups: [''],
      resources: ['secrets'],
      resourceNames: [fernetSecret],
      verbs: ['get', 'update'],
    },
  ]);
  return [account, ...role, config.secret, cron];
}

function rotatePy(ctx: Ctx): string {
  return `import base64, grp, json, os, pwd, ssl, subprocess, tempfile, urllib.request

SA = '/var/run/secrets/kubernetes.io/serviceaccount'
url = 'https://kubernetes.default.svc/api/v1/namespaces/${ctx.namespace}/secrets/${fernetSecret}'
token = open(f'{SA}/token').read()
tls = ssl.create_default_context(cafile=f'{SA}/ca.crt')


def call(method, body=None):
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={'Authorization': f'Bearer {token}', 'Content-Type': 'application/json'})
    with urllib.request.urlopen(req, context=tls, timeout=30) as r:
        return json.load(r)


secret = call('GET')
repo = tempfile.mkdtemp()
for name, value in secret.get('data', {}).items():
    with open(os.path.join(repo, name), 'wb') as f:
        f.write(base64.b64decode(value))
conf = os.path.join(tempfile.mkdtemp(), 'rotate.conf')
with open(conf, 'w') as f:
    f.write(f'[fernet_tokens]\\nkey_repository = {repo}\\nmax_active_keys = 3\\n')
user = pwd.getpwuid(os.getuid()).pw_name
group = grp.getgrgid(os.getgid()).gr_name
subprocess.run(['keystone-manage', '--config-file', '/etc/keystone/keystone.conf', '--config-file', conf,
                'fernet_rotate', '--keystone-user', user, '--keystone-group', group], check=True)
data = {}
for name in sorted(os.listdir(repo)):
    if name.isdigit():
        data[name] = base64.b64encode(open(os.path.join(repo, name), 'rb').read()).decode()
secret['data'] = data
call('PUT', secret)
print('rotated Fernet keys:', ', '.join(sorted(data, key=int)), flush=True)
`;
}
