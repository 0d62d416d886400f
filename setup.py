"""ament_python package memory_nodes; the version here and in package.xml must match."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "memory_nodes"
VERSION = "0.1.0"

# Executable name -> module:function. Every node is an entry point so that both `ros2 run`
# (full ROS 2 installs) and `memstack up` (pip wheels) can start it.
CONSOLE_SCRIPTS = {
    "memstack": "memory_nodes.cli:main",
    "memory_server": "memory_nodes.nodes.memory_server:main",
    "octree_node": "memory_nodes.nodes.octree_node:main",
    "perception_node": "memory_nodes.nodes.perception_node:main",
    "planner_node": "memory_nodes.nodes.planner_node:main",
    "short_term_memory_node": "memory_nodes.nodes.short_term_memory_node:main",
    "sim_bridge_node": "memory_nodes.nodes.sim_bridge_node:main",
}

setup(
    name=PACKAGE,
    version=VERSION,
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*", "sim", "sim.*"]),
    package_data={"sim": ["data/*", "data/**/*"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*_launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.xml")),
    ],
    install_requires=["setuptools"],
    zip_safe=False,
    maintainer="memory_nodes maintainers",
    maintainer_email="maintainers@memory-nodes.invalid",
    description="Household robot memory: scene graph, octree, short-term cache, planner (ROS 2).",
    license="Apache-2.0",
    python_requires=">=3.11",
    entry_points={
        "console_scripts": [f"{name} = {target}" for name, target in CONSOLE_SCRIPTS.items()]
    },
)
