"""What `scripts/package.sh prod` builds: chalice's SAM template merged with
.chalice/merge_template.json, and the Lambda bundle.

Packaging runs once per module, without AWS credentials (it needs PyPI and a
region only). A cold run takes ~8 s here, a run reusing chalice's cached
bundle (.chalice/deployments, keyed on requirements.txt and the app's source)
under 1 s. The tests skip only when the package index is unreachable.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest
from chalice.config import Config

ROOT = Path(__file__).resolve().parents[2]
STAGE = "prod"
FUNCTIONS = ("api_handler", "dial_worker", "sweep_undialed", "run_scheduler")
SENDERS = ("api_handler", "sweep_undialed", "run_scheduler")
SECRET_KEYS = ("MONGODB_URI", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER", "PUBLIC_BASE_URL")
PSEUDO_PARAMETERS = {"AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition",
                     "AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix"}


def _package_index_url() -> str:
    url = os.environ.get("PIP_INDEX_URL")
    if not url:
        pip = ROOT / ".venv" / "bin" / "pip"
        command = [str(pip)] if pip.exists() else [sys.executable, "-m", "pip"]
        result = subprocess.run([*command, "config", "get", "global.index-url"],
                                capture_output=True, text=True, timeout=60)
        url = result.stdout.strip() if result.returncode == 0 else ""
    return (url or "https://pypi.org/simple").rstrip("/") + "/"


def _package_index_unreachable() -> str | None:
    url = _package_index_url()
    try:
        with urllib.request.urlopen(url + "pymongo/", timeout=10) as response:
            response.read(1)
    except Exception as exc:  # any failure to reach the index at all
        return f"package index {url} unreachable ({exc}); chalice package needs it for Linux wheels"
    return None


def _environment_without_aws_credentials(home: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(home / "no-credentials")
    env["AWS_CONFIG_FILE"] = str(home / "no-config")
    return env


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("package")
    started = time.monotonic()
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "package.sh"), STAGE, str(outdir)],
        cwd=tmp_path_factory.getbasetemp(),
        env=_environment_without_aws_credentials(outdir),
        capture_output=True, text=True, timeout=600,
    )
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    if result.returncode != 0:
        reason = _package_index_unreachable()
        if reason:
            pytest.skip(reason)
        pytest.fail(f"scripts/package.sh {STAGE} failed (exit {result.returncode}):\n{output}")
    print(f"\nscripts/package.sh {STAGE}: {elapsed:.1f} s")
    return outdir, output


@pytest.fixture(scope="module")
def template(package):
    outdir, _ = package
    return json.loads((outdir / "sam.json").read_text())


@pytest.fixture(scope="module")
def resources(template):
    return template["Resources"]


def stage_config(function_name: str) -> Config:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    return Config(chalice_stage=STAGE, function_name=function_name, config_from_disk=config)


def function(resources, name: str) -> tuple[str, dict]:
    handler = "app.app" if name == "api_handler" else f"app.{name}"
    found = [(logical_id, resource) for logical_id, resource in resources.items()
             if resource.get("Type") == "AWS::Serverless::Function"
             and resource["Properties"].get("Handler") == handler]
    assert len(found) == 1, f"expected one function with handler {handler}, found {[i for i, _ in found]}"
    return found[0]


def is_dial_queue_arn(value) -> bool:
    return value in ({"Fn::GetAtt": ["DialQueue", "Arn"]}, {"Fn::GetAtt": "DialQueue.Arn"},
                     {"Fn::Sub": "${DialQueue.Arn}"})


def references(node):
    """Every logical id named by Ref, Fn::GetAtt or a ${...} in Fn::Sub."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                yield value
            elif key == "Fn::GetAtt":
                yield (value.split(".")[0] if isinstance(value, str) else value[0])
            elif key == "Fn::Sub":
                text, variables = (value, {}) if isinstance(value, str) else (value[0], value[1])
                for name in re.findall(r"\$\{([^!}][^}]*)\}", text):
                    if name.split(".")[0] not in variables:
                        yield name.split(".")[0]
                yield from references(variables)
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def strings(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)
    elif isinstance(node, str):
        yield node


def role_statements(resources, role_id: str) -> list[dict]:
    statements = []
    for policy in resources[role_id]["Properties"].get("Policies", []):
        statements.extend(policy["PolicyDocument"]["Statement"])
    for resource in resources.values():
        if resource.get("Type") == "AWS::IAM::Policy" and {"Ref": role_id} in resource["Properties"]["Roles"]:
            statements.extend(resource["Properties"]["PolicyDocument"]["Statement"])
    return statements


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


# --- the merged template is a valid whole ---------------------------------

def test_package_needs_no_credentials_and_bundles_every_dependency(package):
    outdir, output = package
    assert (outdir / "sam.json").is_file() and (outdir / "deployment.zip").is_file()
    assert "Could not install dependencies" not in output


def test_merge_template_only_patches_resources_chalice_generates(resources):
    untyped = [logical_id for logical_id, resource in resources.items() if "Type" not in resource]
    assert not untyped, f"merge_template.json patches resources chalice no longer generates: {untyped}"


def test_every_ref_getatt_and_sub_names_a_resource_or_parameter(template):
    known = set(template["Resources"]) | set(template.get("Parameters", {})) | PSEUDO_PARAMETERS
    dangling = sorted(set(references(template)) - known)
    assert not dangling


def test_bundle_has_the_app_and_linux_builds_of_compiled_dependencies(package):
    outdir, _ = package
    with zipfile.ZipFile(outdir / "deployment.zip") as bundle:
        names = bundle.namelist()
    assert "app.py" in names and any(name.startswith("chalicelib/") for name in names)
    extensions = [name for name in names if re.search(r"\.(so|pyd|dylib)$", name)]
    assert any(name.startswith("pydantic_core/") for name in extensions)
    not_for_lambda = [name for name in extensions
                      if ".cpython-" in name and not name.endswith(".cpython-311-x86_64-linux-gnu.so")
                      or name.endswith((".pyd", ".dylib"))]
    assert not not_for_lambda


# --- the dial queue ---------------------------------------------------------

def test_dial_queue_has_the_name_the_app_sends_to(resources):
    assert resources["DialQueue"]["Type"] == "AWS::SQS::Queue"
    from chalicelib.queues import DIAL_QUEUE

    assert resources["DialQueue"]["Properties"]["QueueName"] == DIAL_QUEUE


def test_dial_queue_redrives_to_its_dead_letter_queue_after_five_receives(resources):
    dlq = resources["DialDeadLetterQueue"]
    assert dlq["Type"] == "AWS::SQS::Queue"
    assert dlq["Properties"]["QueueName"] == "outdial-dial-dlq"
    redrive = resources["DialQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["DialDeadLetterQueue", "Arn"]}
    assert int(redrive["maxReceiveCount"]) >= 5


def test_dead_letter_queue_keeps_messages_14_days_longer_than_the_dial_queue(resources):
    dlq_retention = resources["DialDeadLetterQueue"]["Properties"]["MessageRetentionPeriod"]
    queue_retention = resources["DialQueue"]["Properties"].get("MessageRetentionPeriod", 345600)
    assert dlq_retention == 14 * 24 * 3600
    assert dlq_retention > queue_retention


def test_dial_queue_visibility_timeout_is_at_least_six_dial_worker_timeouts(resources):
    _, worker = function(resources, "dial_worker")
    assert resources["DialQueue"]["Properties"]["VisibilityTimeout"] >= 6 * worker["Properties"]["Timeout"]


# --- the functions and their events ----------------------------------------

def test_dial_worker_consumes_the_dial_queue_in_batches_of_10_with_partial_batch_responses(resources):
    logical_id, worker = function(resources, "dial_worker")
    assert logical_id == "DialWorker"
    events = worker["Properties"]["Events"]
    sqs_events = {name: event for name, event in events.items() if event["Type"] == "SQS"}
    assert list(sqs_events) == ["DialWorkerSqsEventSource"]
    properties = sqs_events["DialWorkerSqsEventSource"]["Properties"]
    assert properties["BatchSize"] == 10
    assert "ReportBatchItemFailures" in properties["FunctionResponseTypes"]


def test_dial_worker_event_references_the_queue_resource_so_the_queue_is_created_first(resources):
    _, worker = function(resources, "dial_worker")
    queue = worker["Properties"]["Events"]["DialWorkerSqsEventSource"]["Properties"]["Queue"]
    assert is_dial_queue_arn(queue), queue


@pytest.mark.parametrize("name", ["sweep_undialed", "run_scheduler"])
def test_schedules_run_every_minute(resources, name):
    _, handler = function(resources, name)
    schedules = [event["Properties"]["Schedule"] for event in handler["Properties"]["Events"].values()
                 if event["Type"] == "Schedule"]
    assert schedules == ["rate(1 minute)"]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_gets_memory_timeout_and_concurrency_from_config_json(resources, name):
    _, resource = function(resources, name)
    config = stage_config(name)
    properties = resource["Properties"]
    assert properties["Runtime"] == "python3.11"
    assert properties["MemorySize"] == config.lambda_memory_size
    assert properties["Timeout"] == config.lambda_timeout
    assert properties.get("ReservedConcurrentExecutions") == config.reserved_concurrency


def test_dial_worker_prod_settings(resources):
    _, worker = function(resources, "dial_worker")
    assert worker["Properties"]["Timeout"] == 60
    assert worker["Properties"]["ReservedConcurrentExecutions"] == 50


# --- permissions -------------------------------------------------------------

@pytest.mark.parametrize("name", SENDERS)
def test_function_may_send_to_the_dial_queue_and_look_up_its_url(resources, name):
    _, resource = function(resources, name)
    role_id = resource["Properties"]["Role"]["Fn::GetAtt"][0]
    allowed = set()
    for statement in role_statements(resources, role_id):
        if statement["Effect"] == "Allow" and (is_dial_queue_arn(statement["Resource"]) or statement["Resource"] == "*"):
            allowed.update(as_list(statement["Action"]))
    assert {"sqs:SendMessage", "sqs:GetQueueUrl"} <= allowed


def test_send_permission_is_an_extra_policy_on_chalice_default_role_so_the_autogen_policy_stays(resources):
    role_ids = {function(resources, name)[1]["Properties"]["Role"]["Fn::GetAtt"][0] for name in FUNCTIONS}
    assert role_ids == {"DefaultRole"}
    policy = resources["DialQueueSendPolicy"]
    assert policy["Type"] == "AWS::IAM::Policy"
    assert policy["Properties"]["Roles"] == [{"Ref": "DefaultRole"}]
    for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
        assert is_dial_queue_arn(statement["Resource"])
    autogen_actions = {action for statement in resources["DefaultRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
                       for action in as_list(statement["Action"])}
    assert {"logs:PutLogEvents", "sqs:ReceiveMessage", "sqs:DeleteMessage"} <= autogen_actions


# --- secrets -------------------------------------------------------------------

def test_secret_name_is_a_parameter_defaulting_to_the_prod_secret(template):
    assert template["Parameters"]["SecretName"]["Type"] == "String"
    assert template["Parameters"]["SecretName"]["Default"] == "outdial/prod"


def test_every_function_gets_the_secrets_through_globals_as_secrets_manager_dynamic_references(template):
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    for key in SECRET_KEYS:
        assert variables[key] == {"Fn::Sub": f"{{{{resolve:secretsmanager:${{SecretName}}:SecretString:{key}}}}}"}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_no_function_sets_a_secret_itself_since_its_own_value_would_override_globals(resources, name):
    _, resource = function(resources, name)
    own = resource["Properties"].get("Environment", {}).get("Variables", {})
    assert not set(own) & set(SECRET_KEYS)


def test_template_holds_no_literal_secret_values(template):
    suspicious = [text for text in strings(template)
                  if re.search(r"mongodb(\+srv)?://|\bAC[0-9a-fA-F]{32}\b|\bSK[0-9a-fA-F]{32}\b", text)]
    assert not suspicious
    for key in SECRET_KEYS:
        for value in strings(template["Globals"]["Function"]["Environment"]["Variables"][key]):
            assert value.startswith("{{resolve:secretsmanager:")


def test_gateway_errors_use_the_api_error_shape(resources):
    """Unknown routes and API Gateway's own rejections answer like the app does."""
    responses = {r["Properties"]["ResponseType"]: r["Properties"] for r in resources.values()
                 if r.get("Type") == "AWS::ApiGateway::GatewayResponse"}
    assert set(responses) == {"DEFAULT_4XX", "DEFAULT_5XX"}
    for properties in responses.values():
        assert properties["RestApiId"] == {"Ref": "RestAPI"}
        body = properties["ResponseTemplates"]["application/json"]
        assert body.startswith('{"error": {"code": ') and "$context.error.messageString" in body
