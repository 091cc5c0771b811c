"""vl_tracking_ros.models"""
