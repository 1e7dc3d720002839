"""KMS fidelity: AWS-managed keys, key states, policy validation, missing keys."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from .conftest import ACCOUNT, client_error, key_policy, make_key


def test_aws_managed_alias_reports_key_manager_aws(aws):
    meta = aws("kms").describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
    assert meta["KeyManager"] == "AWS"
    assert meta["Arn"].startswith(f"arn:aws:kms:us-east-1:{ACCOUNT}:key/")
    policy = json.loads(aws("kms").get_key_policy(KeyId=meta["KeyId"], PolicyName="default")["Policy"])
    vias = [s["Condition"]["StringEquals"]["kms:ViaService"] for s in policy["Statement"] if "Condition" in s]
    assert vias == ["s3.us-east-1.amazonaws.com"]


def test_customer_keys_stay_customer_managed(aws):
    assert make_key(aws)["KeyManager"] == "CUSTOMER"


@pytest.mark.parametrize("action,kwargs", [
    ("put_key_policy", {"PolicyName": "default", "Policy": key_policy()}),
    ("disable_key", {}),
    ("schedule_key_deletion", {"PendingWindowInDays": 7}),
    ("enable_key_rotation", {}),
])
def test_aws_managed_keys_cannot_be_changed(aws, action, kwargs):
    kms = aws("kms")
    key = kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
    with pytest.raises(ClientError) as exc:
        getattr(kms, action)(KeyId=key["KeyId"], **kwargs)
    code, message, status = client_error(exc)
    op = "".join(part.title() for part in action.split("_"))
    assert (code, status) == ("AccessDeniedException", 400)
    assert message == (f"User: arn:aws:iam::{ACCOUNT}:user/moto is not authorized to perform: kms:{op} on resource: "
                       f"{key['Arn']} because no resource-based policy allows the kms:{op} action")
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


def test_put_key_policy_rejects_invalid_json(aws):
    key = make_key(aws)
    with pytest.raises(ClientError) as exc:
        aws("kms").put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy="{not json")
    assert client_error(exc)[:2] == ("MalformedPolicyDocumentException", "Syntax errors in policy.")


def test_put_key_policy_rejects_statement_shape_errors(aws):
    key = make_key(aws)
    bad = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Maybe", "Action": "kms:*"}]})
    with pytest.raises(ClientError) as exc:
        aws("kms").put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=bad)
    assert client_error(exc)[0] == "MalformedPolicyDocumentException"


LOCKOUT = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Sid": "OnlySomeoneElse", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:role/Other"},
     "Action": "kms:*", "Resource": "*"}]})


def test_put_key_policy_refuses_lockout(aws):
    key = make_key(aws)
    kms = aws("kms")
    with pytest.raises(ClientError) as exc:
        kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=LOCKOUT)
    assert client_error(exc)[:2] == ("MalformedPolicyDocumentException",
                                     "The new key policy will not allow you to update the key policy in the future.")
    current = kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"]
    assert json.loads(current) == json.loads(key_policy())


def test_put_key_policy_lockout_allowed_with_bypass(aws):
    key = make_key(aws)
    kms = aws("kms")
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=LOCKOUT, BypassPolicyLockoutSafetyCheck=True)
    assert json.loads(kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"]) == json.loads(LOCKOUT)


def test_put_key_policy_by_arn_is_applied(aws):
    key = make_key(aws)
    new = key_policy(cloudtrail=False, describe=False)
    aws("kms").put_key_policy(KeyId=key["Arn"], PolicyName="default", Policy=new)
    assert aws("kms").get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"] == new


def test_create_key_refuses_lockout_unless_bypassed(aws):
    kms = aws("kms")
    with pytest.raises(ClientError) as exc:
        kms.create_key(Policy=LOCKOUT)
    assert client_error(exc)[0] == "MalformedPolicyDocumentException"
    assert kms.list_keys()["Keys"] == []
    assert kms.create_key(Policy=LOCKOUT, BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"]["Enabled"]


def test_create_key_rejects_invalid_json(aws):
    with pytest.raises(ClientError) as exc:
        aws("kms").create_key(Policy="[]")
    assert client_error(exc)[0] == "MalformedPolicyDocumentException"


@pytest.mark.parametrize("call", ["encrypt", "generate_data_key"])
def test_disabled_key_refuses_crypto(aws, call):
    key = make_key(aws)
    kms = aws("kms")
    kms.disable_key(KeyId=key["KeyId"])
    kwargs = {"Plaintext": b"x"} if call == "encrypt" else {"KeySpec": "AES_256"}
    with pytest.raises(ClientError) as exc:
        getattr(kms, call)(KeyId=key["Arn"], **kwargs)
    assert client_error(exc) == ("DisabledException", f"{key['Arn']} is disabled.", 400)


def test_pending_deletion_key_refuses_crypto(aws):
    key = make_key(aws, alias="alias/doomed")
    kms = aws("kms")
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId="alias/doomed", Plaintext=b"x")
    assert client_error(exc) == ("KMSInvalidStateException", f"{key['Arn']} is pending deletion.", 400)


def test_enabled_key_encrypts(aws):
    key = make_key(aws)
    assert aws("kms").encrypt(KeyId=key["KeyId"], Plaintext=b"x")["KeyId"] == key["Arn"]


def test_create_grant_on_missing_key_is_not_found(aws):
    missing = "00000000-0000-0000-0000-000000000000"
    with pytest.raises(ClientError) as exc:
        aws("kms").create_grant(KeyId=missing, GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:root",
                                Operations=["Decrypt"])
    assert client_error(exc) == (
        "NotFoundException", f"Key 'arn:aws:kms:us-east-1:{ACCOUNT}:key/{missing}' does not exist", 400)


def test_missing_alias_is_not_found(aws):
    with pytest.raises(ClientError) as exc:
        aws("kms").encrypt(KeyId="alias/nothing-here", Plaintext=b"x")
    assert client_error(exc)[:2] == (
        "NotFoundException", f"Alias arn:aws:kms:us-east-1:{ACCOUNT}:alias/nothing-here is not found.")


def test_key_arn_of_another_region_is_not_found(aws):
    key = make_key(aws, region="us-west-2")
    with pytest.raises(ClientError) as exc:
        aws("kms", "us-east-1").describe_key(KeyId=key["Arn"])
    assert client_error(exc)[0] == "NotFoundException"
