"""Small S3 helper for the Rust tests, talking to the moto server with boto3:
   s3util.py ENDPOINT create BUCKET | get BUCKET KEY | list BUCKET [PREFIX] | delete BUCKET KEY
   | uploads BUCKET"""
import sys

import boto3

endpoint, cmd, bucket, *rest = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")
if cmd == "create":
    s3.create_bucket(Bucket=bucket)
elif cmd == "get":
    sys.stdout.buffer.write(s3.get_object(Bucket=bucket, Key=rest[0])["Body"].read())
elif cmd == "list":
    r = s3.list_objects_v2(Bucket=bucket, Prefix=rest[0] if rest else "")
    for o in r.get("Contents", []):
        print(o["Key"], o["Size"])
elif cmd == "delete":
    s3.delete_object(Bucket=bucket, Key=rest[0])
elif cmd == "uploads":
    for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        print(u["Key"])
