"""vl_tracking_ros.core"""
