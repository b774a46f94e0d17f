# The health gate of a roll-out (src/controller/rollout.ts): API calls that prove a service
# works, not only that its process answers. Run in a cloud's openstack-client pod, which holds the
# admin credentials (OS_* environment variables, or OS_CLOUD in clouds.yaml), with one argument,
# JSON:
#   {"timeout": 10, "checks": [{"name": "keystone-api canary", "kind": "identity",
#                               "url": "http://10.88.0.12:5000"}, …]}
# kinds: identity (a token issued by that address: 201), image (GET /v2/images), placement
# (GET /resource_providers), compute (GET /v2.1/servers), metadata (GET /), network
# (GET /v2.0/networks), dashboard (GET /auth/login/); each with a token from OS_AUTH_URL where the
# API needs one, and each must answer 200 with the body the API documents.
# Prints one JSON line per check ({"name", "ok", "status", "detail", "ms"}); exits 0 when every
# check passed, 1 otherwise, 2 on bad settings. Python's standard library only.
import json
import os
import sys
import time
import urllib.error
import urllib.request

PATHS = {
    "image": ("/v2/images", "images"),
    "placement": ("/resource_providers", "resource_providers"),
    "compute": ("/v2.1/servers", "servers"),
    "network": ("/v2.0/networks", "networks"),
}


def request(method, url, timeout, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def credentials():
    """OS_* variables; else the OS_CLOUD entry of clouds.yaml, as the openstack client reads it."""
    env = os.environ
    if "OS_USERNAME" in env:
        return env
    import yaml  # PyYAML: the openstack client's own dependency

    paths = [env.get("OS_CLIENT_CONFIG_FILE"), os.path.expanduser("~/.config/openstack/clouds.yaml"),
             "/etc/openstack/clouds.yaml"]
    for path in [p for p in paths if p and os.path.exists(p)]:
        with open(path) as f:
            cloud = yaml.safe_load(f)["clouds"][env.get("OS_CLOUD", "admin")]
        a = cloud["auth"]
        return {
            "OS_AUTH_URL": a["auth_url"],
            "OS_USERNAME": a["username"],
            "OS_PASSWORD": a["password"],
            "OS_PROJECT_NAME": a["project_name"],
            "OS_USER_DOMAIN_NAME": a.get("user_domain_name", "Default"),
            "OS_PROJECT_DOMAIN_NAME": a.get("project_domain_name", "Default"),
        }
    raise KeyError("no OS_USERNAME and no clouds.yaml")


def issue_token(base, timeout):
    """POST /v3/auth/tokens at `base` (with or without its /v3) with the admin's password."""
    base = base.rstrip("/")
    if not base.endswith("/v3"):
        base += "/v3"
    env = credentials()
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": env["OS_USERNAME"],
                        "domain": {"name": env.get("OS_USER_DOMAIN_NAME", "Default")},
                        "password": env["OS_PASSWORD"],
                    }
                },
            },
            "scope": {
                "project": {
                    "name": env["OS_PROJECT_NAME"],
                    "domain": {"name": env.get("OS_PROJECT_DOMAIN_NAME", "Default")},
                }
            },
        }
    }
    status, headers, _ = request("POST", base + "/auth/tokens", timeout, body=body)
    token = {k.lower(): v for k, v in headers.items()}.get("x-subject-token")
    return status, token


def check(c, timeout, token_cache):
    kind, url = c["kind"], c["url"].rstrip("/")
    if kind == "identity":
        status, token = issue_token(url, timeout)
        ok = status == 201 and bool(token)
        return ok, status, "token issued" if ok else "no token"
    if kind == "dashboard":
        status, _, _ = request("GET", url + "/auth/login/", timeout)
        return status == 200, status, "login page"
    if kind == "metadata":
        status, _, _ = request("GET", url + "/", timeout)
        return status == 200, status, "metadata versions"
    if kind not in PATHS:
        raise ValueError("unknown check kind %r" % kind)
    if "token" not in token_cache:
        auth_url = credentials()["OS_AUTH_URL"]
        status, token = issue_token(auth_url, timeout)
        if not token:
            return False, status, "no token from %s" % auth_url
        token_cache["token"] = token
    path, key = PATHS[kind]
    headers = {"X-Auth-Token": token_cache["token"]}
    if kind == "placement":
        headers["OpenStack-API-Version"] = "placement 1.0"
    status, _, body = request("GET", url + path, timeout, headers=headers)
    if status != 200:
        return False, status, "GET %s" % path
    try:
        listed = json.loads(body)[key]
    except (ValueError, KeyError, TypeError):
        return False, status, "GET %s: no %r in the answer" % (path, key)
    return True, status, "GET %s: %d listed" % (path, len(listed))


def main():
    try:
        settings = json.loads(sys.argv[1])
        checks = settings["checks"]
        timeout = float(settings.get("timeout", 10))
    except (IndexError, ValueError, KeyError) as e:
        print("gate: bad settings: %s" % e, file=sys.stderr)
        return 2
    token_cache = {}
    failed = 0
    for c in checks:
        t0 = time.monotonic()
        try:
            ok, status, detail = check(c, timeout, token_cache)
        except Exception as e:  # a refused connection, a timeout, a reset: the check failed
            ok, status, detail = False, 0, "%s: %s" % (type(e).__name__, e)
        ms = round((time.monotonic() - t0) * 1000)
        print(json.dumps({"name": c["name"], "ok": ok, "status": status, "detail": detail, "ms": ms}))
        sys.stdout.flush()
        failed += 0 if ok else 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
