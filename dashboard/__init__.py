"""The clickflow dashboard: a Streamlit app over the serving REST API and ML Metadata."""
