"""Shipping Picasso's JSON log lines to OpenSearch or Elasticsearch in a cluster (README,
"Traces and logs"): Fluent Bit's configuration and the index template it writes into."""
