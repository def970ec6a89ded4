"""Every Lambda imports app.py: the Twilio SDK, boto3 and a database
connection must wait until a handler needs them."""
import json
import subprocess
import sys

from tests.conftest import ROOT

PROBE = """
import json, socket, sys
opened = []
real_connect = socket.socket.connect
socket.socket.connect = lambda self, addr: opened.append(addr) or real_connect(self, addr)
import app
heavy = sorted({m.split('.')[0] for m in sys.modules} & {'twilio', 'boto3', 'botocore', 'requests'})
print(json.dumps({"heavy": heavy, "sockets": [str(a) for a in opened]}))
"""


def test_importing_the_app_loads_no_sdk_and_opens_no_connection():
    env = {"MONGODB_URI": "mongodb://127.0.0.1:9", "PATH": ""}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result == {"heavy": [], "sockets": []}
