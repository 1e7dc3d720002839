"""A lab started after another one in the same process starts from an empty AWS (pytest runs several
test modules, each with its own lab, in one worker process)."""

import boto3

import lab


def _buckets(server):
    s3 = boto3.client("s3", endpoint_url=server.endpoint_url, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    return [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_a_new_lab_does_not_inherit_the_previous_labs_state():
    with lab.LabServer() as first:
        boto3.client("s3", endpoint_url=first.endpoint_url, region_name="us-east-1",
                     aws_access_key_id="testing", aws_secret_access_key="testing").create_bucket(Bucket="left-over")
        assert _buckets(first) == ["left-over"]
    with lab.LabServer() as second:
        assert _buckets(second) == []
