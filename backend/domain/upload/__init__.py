"""Files uploaded straight to S3 with a presigned form, then copied to the key they are served from and checked:
the one flow photos and documents share."""
