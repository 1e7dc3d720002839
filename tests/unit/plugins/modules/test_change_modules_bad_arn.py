"""A malformed trail ARN is refused by every change module before any AWS call, naming the argument."""

import pytest
from change_module_helpers import run

from ansible_collections.trailguard.cloudtrail_cmk.plugins.modules import kms_cloudtrail_policy, s3_cloudtrail_policy
from ansible_collections.trailguard.cloudtrail_cmk.plugins.modules import trail_kms_attach

KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TRAIL = "arn:aws:cloudtrail:us-east-1:123456789012:trail/main"


@pytest.mark.parametrize(
    ("module", "args", "message"),
    [
        pytest.param(trail_kms_attach, {"trail_arn": "main", "kms_key_arn": KEY},
                     "trail_arn 'main' is not a cloudtrail trail ARN", id="attach-name"),
        pytest.param(trail_kms_attach, {"trail_arn": KEY, "kms_key_arn": KEY},
                     "is not a cloudtrail trail ARN", id="attach-key-arn"),
        pytest.param(s3_cloudtrail_policy, {"trail_arn": "arn:aws:cloudtrail:us-east-1::trail/x", "kms_key_arn": KEY},
                     "trail_arn 'arn:aws:cloudtrail:us-east-1::trail/x' is not", id="bucket-no-account"),
        pytest.param(kms_cloudtrail_policy, {"key_id": KEY, "trail_arns": [TRAIL, "arn:aws:s3:::logs"]},
                     "trail_arns[1] 'arn:aws:s3:::logs' is not a cloudtrail trail ARN", id="key-second-trail"),
    ],
)
def test_malformed_trail_arn_fails_before_any_aws_call(aws, module, args, message):
    result, failed = run(module.main, args)
    assert failed and result["changed"] is False
    assert message in result["msg"] and "(arn:<partition>:cloudtrail:<region>:<account>:trail/<name>)" in result["msg"]
    assert aws == []  # not even a read
