"""The scene graph as an RViz MarkerArray: boxes, labels and relation lines per layer."""

from __future__ import annotations

from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from memory_nodes.core.scene_graph import EdgeType, Layer, NodeStatus, SceneGraph

LAYER_COLOURS = {
    Layer.ROOM: ColorRGBA(r=0.6, g=0.6, b=0.6, a=0.15),
    Layer.FURNITURE: ColorRGBA(r=0.2, g=0.5, b=0.9, a=0.35),
    Layer.OBJECT: ColorRGBA(r=0.95, g=0.55, b=0.1, a=0.8),
    Layer.AGENT: ColorRGBA(r=0.1, g=0.8, b=0.2, a=0.9),
}
EDGE_COLOURS = {
    EdgeType.ON: ColorRGBA(r=0.1, g=0.7, b=0.1, a=0.9),
    EdgeType.INSIDE: ColorRGBA(r=0.8, g=0.1, b=0.8, a=0.9),
    EdgeType.IN_ROOM: ColorRGBA(r=0.5, g=0.5, b=0.5, a=0.3),
    EdgeType.NEAR: ColorRGBA(r=0.9, g=0.9, b=0.2, a=0.4),
}


def _point(vector) -> Point:
    return Point(x=vector.x, y=vector.y, z=vector.z)


def scene_graph_markers(graph: SceneGraph, header: Header) -> MarkerArray:
    """One box and one label per present node, one line list per edge type."""
    markers = MarkerArray()
    markers.markers.append(Marker(header=header, action=Marker.DELETEALL))
    forever = Duration()
    for index, node in enumerate(graph.nodes()):
        if node.status != NodeStatus.PRESENT:
            continue
        box = Marker(header=header, ns=f"nodes/{node.layer.name.lower()}", id=index)
        box.type, box.action, box.lifetime = Marker.CUBE, Marker.ADD, forever
        box.pose.position = _point(node.box.center)
        box.pose.orientation.w = 1.0
        size = node.box.size
        box.scale.x, box.scale.y, box.scale.z = (
            max(size.x, 0.02),
            max(size.y, 0.02),
            max(size.z, 0.02),
        )
        box.color = LAYER_COLOURS[node.layer]
        label = Marker(header=header, ns="labels", id=index)
        label.type, label.action, label.lifetime = Marker.TEXT_VIEW_FACING, Marker.ADD, forever
        label.pose.position = _point(node.box.center)
        label.pose.position.z += size.z / 2 + 0.08
        label.pose.orientation.w = 1.0
        label.scale.z = 0.08
        label.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
        label.text = f"{node.node_id} {node.node_type} ({node.confidence:.2f})"
        markers.markers += [box, label]
    for index, edge_type in enumerate(EdgeType):
        lines = Marker(header=header, ns=f"edges/{edge_type.value}", id=index)
        lines.type, lines.action, lines.lifetime = Marker.LINE_LIST, Marker.ADD, forever
        lines.pose.orientation.w = 1.0
        lines.scale.x = 0.01
        lines.color = EDGE_COLOURS[edge_type]
        for edge in graph.edges(edge_type):
            source, target = graph.find_node(edge.source), graph.find_node(edge.target)
            if source is None or target is None:
                continue
            lines.points += [_point(source.box.center), _point(target.box.center)]
        if lines.points:
            markers.markers.append(lines)
    return markers
