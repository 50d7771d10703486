"""aws/sagemaker"""
