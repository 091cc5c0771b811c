"""vl_tracking_ros.trackers"""
