#!/bin/sh
# Init container of the serving Deployment: writes $MODEL_CONFIG_FILE from the models.config
# template, with base_path set to $SERVING_MODEL_BASE_PATH (TF Serving's config file cannot read
# environment variables, and each overlay points at its own bucket).
set -eu
: "${MODEL_CONFIG_TEMPLATE:?MODEL_CONFIG_TEMPLATE must name the models.config template}"
: "${MODEL_CONFIG_FILE:?MODEL_CONFIG_FILE must name the file to write}"
base_path="${SERVING_MODEL_BASE_PATH:-}"
case "$base_path" in
  "")
    echo "error: SERVING_MODEL_BASE_PATH is empty; set it in the overlay's clickflow-serving-env ConfigMap (gs://BUCKET/.../serving_model/clickflow)" >&2
    exit 1 ;;
  *[!A-Za-z0-9._/:=+@-]*)
    echo "error: SERVING_MODEL_BASE_PATH='$base_path' has characters outside [A-Za-z0-9._/:=+@-]" >&2
    exit 1 ;;
  gs://?*/?* | /?*) ;;
  *)
    echo "error: SERVING_MODEL_BASE_PATH='$base_path' must be gs://BUCKET/PATH or an absolute path" >&2
    exit 1 ;;
esac
count=$(grep -c '^[[:space:]]*base_path:' "$MODEL_CONFIG_TEMPLATE" || true)
if [ "$count" != 1 ]; then
  echo "error: $MODEL_CONFIG_TEMPLATE must have exactly one base_path line, found $count" >&2
  exit 1
fi
sed "s|^\([[:space:]]*base_path:\).*|\1 \"$base_path\"|" "$MODEL_CONFIG_TEMPLATE" > "$MODEL_CONFIG_FILE.tmp"
mv "$MODEL_CONFIG_FILE.tmp" "$MODEL_CONFIG_FILE"
echo "wrote $MODEL_CONFIG_FILE with base_path \"$base_path\""
