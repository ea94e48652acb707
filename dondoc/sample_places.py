"""Place and organisation names the sample rosters are built from.

Sơn La's departments and its 12 district-level units with six communes each match the shape of
the province's 2024 survey plan. The 63 provinces (before the 2025 reorganisation, in the
statistics office's order) with their district-level units as of 2024, the agencies nearly every
province had, and the divisions inside departments and districts follow the administrative
structure of that period.

These names are sample data, not a reference: nothing in this repository records their exact
source or a check against an official list, so a spelling, or which unit belongs where, may be
off. Use them to make realistic-looking rosters, never to validate real ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# The departments Sơn La's 2024 plan surveys, 20 people each.
SONLA_DEPARTMENTS: Final = (
    "Sở Nội vụ",
    "Sở Tư pháp",
    "Sở Kế hoạch và Đầu tư",
    "Sở Tài chính",
    "Sở Công Thương",
    "Sở Nông nghiệp và Phát triển nông thôn",
    "Sở Giao thông vận tải",
    "Sở Xây dựng",
    "Sở Tài nguyên và Môi trường",
    "Sở Thông tin và Truyền thông",
    "Sở Lao động - Thương binh và Xã hội",
    "Sở Văn hóa, Thể thao và Du lịch",
    "Sở Khoa học và Công nghệ",
    "Sở Giáo dục và Đào tạo",
    "Sở Y tế",
    "Sở Ngoại vụ",
    "Ban Dân tộc",
    "Ban Quản lý các khu công nghiệp",
    "Văn phòng UBND tỉnh",
    "Thanh tra tỉnh",
)
# The 12 district-level units of Sơn La, with six communes each: the plan surveys 5 people in
# each of 6 communes per district, so the commune names show up in the positions.
SONLA_COMMUNES: Final[dict[str, tuple[str, ...]]] = {
    "thành phố Sơn La": (
        "phường Chiềng Lề",
        "phường Tô Hiệu",
        "phường Quyết Thắng",
        "phường Chiềng Sinh",
        "xã Chiềng Ngần",
        "xã Hua La",
    ),
    "huyện Quỳnh Nhai": (
        "xã Mường Giàng",
        "xã Chiềng Bằng",
        "xã Mường Sại",
        "xã Nậm Ét",
        "xã Liệp Tè",
        "xã Cà Nàng",
    ),
    "huyện Thuận Châu": (
        "thị trấn Thuận Châu",
        "xã Phổng Lái",
        "xã Chiềng Pha",
        "xã Tông Lạnh",
        "xã Bon Phặng",
        "xã Co Mạ",
    ),
    "huyện Mường La": (
        "thị trấn Ít Ong",
        "xã Mường Bú",
        "xã Chiềng Lao",
        "xã Nậm Păm",
        "xã Mường Trai",
        "xã Chiềng Hoa",
    ),
    "huyện Bắc Yên": (
        "thị trấn Bắc Yên",
        "xã Phiêng Ban",
        "xã Hồng Ngài",
        "xã Tà Xùa",
        "xã Song Pe",
        "xã Chim Vàn",
    ),
    "huyện Phù Yên": (
        "thị trấn Phù Yên",
        "xã Huy Bắc",
        "xã Quang Huy",
        "xã Gia Phù",
        "xã Tường Phong",
        "xã Mường Cơi",
    ),
    "huyện Mộc Châu": (
        "thị trấn Mộc Châu",
        "thị trấn Nông trường Mộc Châu",
        "xã Đông Sang",
        "xã Chiềng Sơn",
        "xã Tân Lập",
        "xã Phiêng Luông",
    ),
    "huyện Yên Châu": (
        "thị trấn Yên Châu",
        "xã Chiềng Đông",
        "xã Chiềng Sàng",
        "xã Sặp Vạt",
        "xã Chiềng Hặc",
        "xã Viêng Lán",
    ),
    "huyện Mai Sơn": (
        "thị trấn Hát Lót",
        "xã Cò Nòi",
        "xã Chiềng Mung",
        "xã Mường Bon",
        "xã Chiềng Ban",
        "xã Nà Bó",
    ),
    "huyện Sông Mã": (
        "thị trấn Sông Mã",
        "xã Chiềng Khương",
        "xã Nà Nghịu",
        "xã Chiềng Sơ",
        "xã Mường Lầm",
        "xã Bó Sinh",
    ),
    "huyện Sốp Cộp": (
        "xã Sốp Cộp",
        "xã Dồm Cang",
        "xã Mường Lạn",
        "xã Nậm Lạnh",
        "xã Mường Và",
        "xã Púng Bánh",
    ),
    "huyện Vân Hồ": (
        "xã Vân Hồ",
        "xã Lóng Luông",
        "xã Chiềng Khoa",
        "xã Tô Múa",
        "xã Suối Bàng",
        "xã Song Khủa",
    ),
}
# Used when a commune-level group appears in a district we have no commune names for.
GENERIC_COMMUNES: Final = (
    "xã Tân Lập",
    "xã Hồng Phong",
    "xã Quyết Tiến",
    "xã Đồng Tâm",
    "xã Thống Nhất",
    "xã Tân Thành",
    "xã Hòa Bình",
    "xã Thanh Sơn",
    "xã Quang Trung",
    "xã Minh Khai",
)

# Department-level agencies every province had (names without the province).
PROVINCE_AGENCIES: Final = (
    "Văn phòng UBND",
    "Sở Nội vụ",
    "Sở Tư pháp",
    "Sở Kế hoạch và Đầu tư",
    "Sở Tài chính",
    "Sở Công Thương",
    "Sở Nông nghiệp và Phát triển nông thôn",
    "Sở Giao thông vận tải",
    "Sở Xây dựng",
    "Sở Tài nguyên và Môi trường",
    "Sở Thông tin và Truyền thông",
    "Sở Lao động - Thương binh và Xã hội",
    "Sở Văn hóa, Thể thao và Du lịch",
    "Sở Khoa học và Công nghệ",
    "Sở Giáo dục và Đào tạo",
    "Sở Y tế",
    "Sở Ngoại vụ",
    "Thanh tra",
    "Ban Dân tộc",
    "Ban Quản lý các khu công nghiệp",
)
# Units under the departments: the "đơn vị trực thuộc sở" whose leaders MoHA also surveys. Real
# provinces have far more; these are the ones nearly every province had.
SUBORDINATE_AGENCIES: Final = (
    "Ban Thi đua - Khen thưởng",
    "Ban Tôn giáo",
    "Chi cục Văn thư - Lưu trữ",
    "Chi cục Kiểm lâm",
    "Chi cục Thủy lợi",
    "Chi cục Chăn nuôi và Thú y",
    "Chi cục Trồng trọt và Bảo vệ thực vật",
    "Chi cục Phát triển nông thôn",
    "Chi cục Bảo vệ môi trường",
    "Chi cục Tiêu chuẩn Đo lường Chất lượng",
    "Chi cục Dân số - Kế hoạch hóa gia đình",
    "Chi cục An toàn vệ sinh thực phẩm",
    "Chi cục Giám định xây dựng",
    "Trung tâm Phục vụ hành chính công",
    "Trung tâm Xúc tiến Đầu tư, Thương mại và Du lịch",
    "Trung tâm Kiểm soát bệnh tật",
    "Trung tâm Công nghệ thông tin và Truyền thông",
    "Trung tâm Dịch vụ việc làm",
)

# The 63 provinces before the 2025 reorganisation, in the statistics office's order, with their
# district-level units as of 2024. Prefixes: "TP " thành phố, "TX " thị xã, "Q " quận, none huyện.
PROVINCES: Final = (
    (
        "thành phố Hà Nội",
        "Q Ba Đình; Q Hoàn Kiếm; Q Tây Hồ; Q Long Biên; Q Cầu Giấy; Q Đống Đa; Q Hai Bà Trưng; "
        "Q Hoàng Mai; Q Thanh Xuân; Q Nam Từ Liêm; Q Bắc Từ Liêm; Q Hà Đông; TX Sơn Tây; Sóc Sơn; "
        "Đông Anh; Gia Lâm; Thanh Trì; Mê Linh; Ba Vì; Phúc Thọ; Đan Phượng; Hoài Đức; Quốc Oai; "
        "Thạch Thất; Chương Mỹ; Thanh Oai; Thường Tín; Phú Xuyên; Ứng Hòa; Mỹ Đức",
    ),
    (
        "tỉnh Hà Giang",
        "TP Hà Giang; Đồng Văn; Mèo Vạc; Yên Minh; Quản Bạ; Vị Xuyên; Bắc Mê; Hoàng Su Phì; "
        "Xín Mần; Bắc Quang; Quang Bình",
    ),
    (
        "tỉnh Cao Bằng",
        "TP Cao Bằng; Bảo Lâm; Bảo Lạc; Hà Quảng; Trùng Khánh; Hạ Lang; Quảng Hòa; Hòa An; "
        "Nguyên Bình; Thạch An",
    ),
    (
        "tỉnh Bắc Kạn",
        "TP Bắc Kạn; Pác Nặm; Ba Bể; Ngân Sơn; Bạch Thông; Chợ Đồn; Chợ Mới; Na Rì",
    ),
    (
        "tỉnh Tuyên Quang",
        "TP Tuyên Quang; Lâm Bình; Na Hang; Chiêm Hóa; Hàm Yên; Yên Sơn; Sơn Dương",
    ),
    (
        "tỉnh Lào Cai",
        "TP Lào Cai; Bát Xát; Mường Khương; Si Ma Cai; Bắc Hà; Bảo Thắng; Bảo Yên; TX Sa Pa; "
        "Văn Bàn",
    ),
    (
        "tỉnh Điện Biên",
        "TP Điện Biên Phủ; TX Mường Lay; Mường Nhé; Mường Chà; Tủa Chùa; Tuần Giáo; Điện Biên; "
        "Điện Biên Đông; Mường Ảng; Nậm Pồ",
    ),
    (
        "tỉnh Lai Châu",
        "TP Lai Châu; Tam Đường; Mường Tè; Sìn Hồ; Phong Thổ; Than Uyên; Tân Uyên; Nậm Nhùn",
    ),
    (
        "tỉnh Sơn La",
        "TP Sơn La; Quỳnh Nhai; Thuận Châu; Mường La; Bắc Yên; Phù Yên; Mộc Châu; Yên Châu; "
        "Mai Sơn; Sông Mã; Sốp Cộp; Vân Hồ",
    ),
    (
        "tỉnh Yên Bái",
        "TP Yên Bái; TX Nghĩa Lộ; Lục Yên; Văn Yên; Mù Cang Chải; Trấn Yên; Trạm Tấu; Văn Chấn; "
        "Yên Bình",
    ),
    (
        "tỉnh Hòa Bình",
        "TP Hòa Bình; Đà Bắc; Lương Sơn; Kim Bôi; Cao Phong; Tân Lạc; Mai Châu; Lạc Sơn; "
        "Yên Thủy; Lạc Thủy",
    ),
    (
        "tỉnh Thái Nguyên",
        "TP Thái Nguyên; TP Sông Công; TP Phổ Yên; Định Hóa; Phú Lương; Đồng Hỷ; Võ Nhai; Đại Từ; "
        "Phú Bình",
    ),
    (
        "tỉnh Lạng Sơn",
        "TP Lạng Sơn; Tràng Định; Bình Gia; Văn Lãng; Cao Lộc; Văn Quan; Bắc Sơn; Hữu Lũng; "
        "Chi Lăng; Lộc Bình; Đình Lập",
    ),
    (
        "tỉnh Quảng Ninh",
        "TP Hạ Long; TP Móng Cái; TP Cẩm Phả; TP Uông Bí; TP Đông Triều; TX Quảng Yên; Bình Liêu; "
        "Tiên Yên; Đầm Hà; Hải Hà; Ba Chẽ; Vân Đồn; Cô Tô",
    ),
    (
        "tỉnh Bắc Giang",
        "TP Bắc Giang; TX Việt Yên; Yên Thế; Tân Yên; Lạng Giang; Lục Nam; Lục Ngạn; Sơn Động; "
        "Yên Dũng; Hiệp Hòa",
    ),
    (
        "tỉnh Phú Thọ",
        "TP Việt Trì; TX Phú Thọ; Đoan Hùng; Hạ Hòa; Thanh Ba; Phù Ninh; Yên Lập; Cẩm Khê; "
        "Tam Nông; Lâm Thao; Thanh Sơn; Thanh Thủy; Tân Sơn",
    ),
    (
        "tỉnh Vĩnh Phúc",
        "TP Vĩnh Yên; TP Phúc Yên; Lập Thạch; Tam Dương; Tam Đảo; Bình Xuyên; Yên Lạc; "
        "Vĩnh Tường; Sông Lô",
    ),
    (
        "tỉnh Bắc Ninh",
        "TP Bắc Ninh; TP Từ Sơn; TX Quế Võ; TX Thuận Thành; Yên Phong; Tiên Du; Gia Bình; "
        "Lương Tài",
    ),
    (
        "tỉnh Hải Dương",
        "TP Hải Dương; TP Chí Linh; TX Kinh Môn; Nam Sách; Kim Thành; Thanh Hà; Cẩm Giàng; "
        "Bình Giang; Gia Lộc; Tứ Kỳ; Ninh Giang; Thanh Miện",
    ),
    (
        "thành phố Hải Phòng",
        "Q Hồng Bàng; Q Ngô Quyền; Q Lê Chân; Q Hải An; Q Kiến An; Q Đồ Sơn; Q Dương Kinh; "
        "Thủy Nguyên; An Dương; An Lão; Kiến Thụy; Tiên Lãng; Vĩnh Bảo; Cát Hải; Bạch Long Vĩ",
    ),
    (
        "tỉnh Hưng Yên",
        "TP Hưng Yên; TX Mỹ Hào; Văn Lâm; Văn Giang; Yên Mỹ; Ân Thi; Khoái Châu; Kim Động; "
        "Tiên Lữ; Phù Cừ",
    ),
    (
        "tỉnh Thái Bình",
        "TP Thái Bình; Quỳnh Phụ; Hưng Hà; Đông Hưng; Thái Thụy; Tiền Hải; Kiến Xương; Vũ Thư",
    ),
    (
        "tỉnh Hà Nam",
        "TP Phủ Lý; TX Duy Tiên; Kim Bảng; Thanh Liêm; Bình Lục; Lý Nhân",
    ),
    (
        "tỉnh Nam Định",
        "TP Nam Định; Mỹ Lộc; Vụ Bản; Ý Yên; Nghĩa Hưng; Nam Trực; Trực Ninh; Xuân Trường; "
        "Giao Thủy; Hải Hậu",
    ),
    (
        "tỉnh Ninh Bình",
        "TP Ninh Bình; TP Tam Điệp; Nho Quan; Gia Viễn; Hoa Lư; Yên Khánh; Kim Sơn; Yên Mô",
    ),
    (
        "tỉnh Thanh Hóa",
        "TP Thanh Hóa; TX Bỉm Sơn; TP Sầm Sơn; TX Nghi Sơn; Mường Lát; Quan Hóa; Bá Thước; "
        "Quan Sơn; Lang Chánh; Ngọc Lặc; Cẩm Thủy; Thạch Thành; Hà Trung; Vĩnh Lộc; Yên Định; "
        "Thọ Xuân; Thường Xuân; Triệu Sơn; Thiệu Hóa; Hoằng Hóa; Hậu Lộc; Nga Sơn; Như Xuân; "
        "Như Thanh; Nông Cống; Đông Sơn; Quảng Xương",
    ),
    (
        "tỉnh Nghệ An",
        "TP Vinh; TX Cửa Lò; TX Thái Hòa; TX Hoàng Mai; Quế Phong; Quỳ Châu; Kỳ Sơn; Tương Dương; "
        "Nghĩa Đàn; Quỳ Hợp; Quỳnh Lưu; Con Cuông; Tân Kỳ; Anh Sơn; Diễn Châu; Yên Thành; "
        "Đô Lương; Thanh Chương; Nghi Lộc; Nam Đàn; Hưng Nguyên",
    ),
    (
        "tỉnh Hà Tĩnh",
        "TP Hà Tĩnh; TX Hồng Lĩnh; TX Kỳ Anh; Hương Sơn; Đức Thọ; Vũ Quang; Nghi Xuân; Can Lộc; "
        "Hương Khê; Thạch Hà; Cẩm Xuyên; Kỳ Anh; Lộc Hà",
    ),
    (
        "tỉnh Quảng Bình",
        "TP Đồng Hới; TX Ba Đồn; Minh Hóa; Tuyên Hóa; Quảng Trạch; Bố Trạch; Quảng Ninh; Lệ Thủy",
    ),
    (
        "tỉnh Quảng Trị",
        "TP Đông Hà; TX Quảng Trị; Vĩnh Linh; Hướng Hóa; Gio Linh; Đakrông; Cam Lộ; Triệu Phong; "
        "Hải Lăng; Cồn Cỏ",
    ),
    (
        "tỉnh Thừa Thiên Huế",
        "TP Huế; TX Hương Thủy; TX Hương Trà; Phong Điền; Quảng Điền; Phú Vang; A Lưới; Phú Lộc; "
        "Nam Đông",
    ),
    (
        "thành phố Đà Nẵng",
        "Q Liên Chiểu; Q Thanh Khê; Q Hải Châu; Q Sơn Trà; Q Ngũ Hành Sơn; Q Cẩm Lệ; Hòa Vang; "
        "Hoàng Sa",
    ),
    (
        "tỉnh Quảng Nam",
        "TP Tam Kỳ; TP Hội An; TX Điện Bàn; Tây Giang; Đông Giang; Đại Lộc; Duy Xuyên; Quế Sơn; "
        "Nam Giang; Phước Sơn; Hiệp Đức; Thăng Bình; Tiên Phước; Bắc Trà My; Nam Trà My; "
        "Núi Thành; Phú Ninh; Nông Sơn",
    ),
    (
        "tỉnh Quảng Ngãi",
        "TP Quảng Ngãi; TX Đức Phổ; Bình Sơn; Trà Bồng; Sơn Tịnh; Tư Nghĩa; Sơn Hà; Sơn Tây; "
        "Minh Long; Nghĩa Hành; Mộ Đức; Ba Tơ; Lý Sơn",
    ),
    (
        "tỉnh Bình Định",
        "TP Quy Nhơn; TX Hoài Nhơn; TX An Nhơn; An Lão; Hoài Ân; Phù Mỹ; Vĩnh Thạnh; Tây Sơn; "
        "Phù Cát; Tuy Phước; Vân Canh",
    ),
    (
        "tỉnh Phú Yên",
        "TP Tuy Hòa; TX Sông Cầu; TX Đông Hòa; Đồng Xuân; Tuy An; Sơn Hòa; Sông Hinh; Tây Hòa; "
        "Phú Hòa",
    ),
    (
        "tỉnh Khánh Hòa",
        "TP Nha Trang; TP Cam Ranh; TX Ninh Hòa; Cam Lâm; Vạn Ninh; Khánh Vĩnh; Diên Khánh; "
        "Khánh Sơn; Trường Sa",
    ),
    (
        "tỉnh Ninh Thuận",
        "TP Phan Rang - Tháp Chàm; Bác Ái; Ninh Sơn; Ninh Hải; Ninh Phước; Thuận Bắc; Thuận Nam",
    ),
    (
        "tỉnh Bình Thuận",
        "TP Phan Thiết; TX La Gi; Tuy Phong; Bắc Bình; Hàm Thuận Bắc; Hàm Thuận Nam; Tánh Linh; "
        "Đức Linh; Hàm Tân; Phú Quý",
    ),
    (
        "tỉnh Kon Tum",
        "TP Kon Tum; Đắk Glei; Ngọc Hồi; Đắk Tô; Kon Plông; Kon Rẫy; Đắk Hà; Sa Thầy; "
        "Tu Mơ Rông; Ia H'Drai",
    ),
    (
        "tỉnh Gia Lai",
        "TP Pleiku; TX An Khê; TX Ayun Pa; Kbang; Đak Đoa; Chư Păh; Ia Grai; Mang Yang; "
        "Kông Chro; Đức Cơ; Chư Prông; Chư Sê; Đak Pơ; Ia Pa; Krông Pa; Phú Thiện; Chư Pưh",
    ),
    (
        "tỉnh Đắk Lắk",
        "TP Buôn Ma Thuột; TX Buôn Hồ; Ea H'leo; Ea Súp; Buôn Đôn; Cư M'gar; Krông Búk; "
        "Krông Năng; Ea Kar; M'Đrắk; Krông Bông; Krông Pắc; Krông A Na; Lắk; Cư Kuin",
    ),
    (
        "tỉnh Đắk Nông",
        "TP Gia Nghĩa; Đắk Glong; Cư Jút; Đắk Mil; Krông Nô; Đắk Song; Đắk R'lấp; Tuy Đức",
    ),
    (
        "tỉnh Lâm Đồng",
        "TP Đà Lạt; TP Bảo Lộc; Đam Rông; Lạc Dương; Lâm Hà; Đơn Dương; Đức Trọng; Di Linh; "
        "Bảo Lâm; Đạ Huoai; Đạ Tẻh; Cát Tiên",
    ),
    (
        "tỉnh Bình Phước",
        "TP Đồng Xoài; TX Phước Long; TX Bình Long; TX Chơn Thành; Bù Gia Mập; Lộc Ninh; Bù Đốp; "
        "Hớn Quản; Đồng Phú; Bù Đăng; Phú Riềng",
    ),
    (
        "tỉnh Tây Ninh",
        "TP Tây Ninh; TX Hòa Thành; TX Trảng Bàng; Tân Biên; Tân Châu; Dương Minh Châu; "
        "Châu Thành; Gò Dầu; Bến Cầu",
    ),
    (
        "tỉnh Bình Dương",
        "TP Thủ Dầu Một; TP Dĩ An; TP Thuận An; TP Bến Cát; TP Tân Uyên; Bàu Bàng; Dầu Tiếng; "
        "Phú Giáo; Bắc Tân Uyên",
    ),
    (
        "tỉnh Đồng Nai",
        "TP Biên Hòa; TP Long Khánh; Tân Phú; Vĩnh Cửu; Định Quán; Trảng Bom; Thống Nhất; "
        "Cẩm Mỹ; Long Thành; Xuân Lộc; Nhơn Trạch",
    ),
    (
        "tỉnh Bà Rịa - Vũng Tàu",
        "TP Vũng Tàu; TP Bà Rịa; TX Phú Mỹ; Châu Đức; Xuyên Mộc; Long Điền; Đất Đỏ; Côn Đảo",
    ),
    (
        "thành phố Hồ Chí Minh",
        "TP Thủ Đức; Q 1; Q 3; Q 4; Q 5; Q 6; Q 7; Q 8; Q 10; Q 11; Q 12; Q Gò Vấp; Q Bình Thạnh; "
        "Q Tân Bình; Q Tân Phú; Q Phú Nhuận; Q Bình Tân; Củ Chi; Hóc Môn; Bình Chánh; Nhà Bè; "
        "Cần Giờ",
    ),
    (
        "tỉnh Long An",
        "TP Tân An; TX Kiến Tường; Tân Hưng; Vĩnh Hưng; Mộc Hóa; Tân Thạnh; Thạnh Hóa; Đức Huệ; "
        "Đức Hòa; Bến Lức; Thủ Thừa; Tân Trụ; Cần Đước; Cần Giuộc; Châu Thành",
    ),
    (
        "tỉnh Tiền Giang",
        "TP Mỹ Tho; TP Gò Công; TX Cai Lậy; Tân Phước; Cái Bè; Cai Lậy; Châu Thành; Chợ Gạo; "
        "Gò Công Tây; Gò Công Đông; Tân Phú Đông",
    ),
    (
        "tỉnh Bến Tre",
        "TP Bến Tre; Châu Thành; Chợ Lách; Mỏ Cày Nam; Giồng Trôm; Bình Đại; Ba Tri; Thạnh Phú; "
        "Mỏ Cày Bắc",
    ),
    (
        "tỉnh Trà Vinh",
        "TP Trà Vinh; TX Duyên Hải; Càng Long; Cầu Kè; Tiểu Cần; Châu Thành; Cầu Ngang; Trà Cú; "
        "Duyên Hải",
    ),
    (
        "tỉnh Vĩnh Long",
        "TP Vĩnh Long; TX Bình Minh; Long Hồ; Mang Thít; Vũng Liêm; Tam Bình; Trà Ôn; Bình Tân",
    ),
    (
        "tỉnh Đồng Tháp",
        "TP Cao Lãnh; TP Sa Đéc; TP Hồng Ngự; Tân Hồng; Hồng Ngự; Tam Nông; Tháp Mười; Cao Lãnh; "
        "Thanh Bình; Lấp Vò; Lai Vung; Châu Thành",
    ),
    (
        "tỉnh An Giang",
        "TP Long Xuyên; TP Châu Đốc; TX Tân Châu; TX Tịnh Biên; An Phú; Phú Tân; Châu Phú; "
        "Tri Tôn; Châu Thành; Chợ Mới; Thoại Sơn",
    ),
    (
        "tỉnh Kiên Giang",
        "TP Rạch Giá; TP Hà Tiên; TP Phú Quốc; Kiên Lương; Hòn Đất; Tân Hiệp; Châu Thành; "
        "Giồng Riềng; Gò Quao; An Biên; An Minh; Vĩnh Thuận; Kiên Hải; U Minh Thượng; Giang Thành",
    ),
    (
        "thành phố Cần Thơ",
        "Q Ninh Kiều; Q Ô Môn; Q Bình Thủy; Q Cái Răng; Q Thốt Nốt; Vĩnh Thạnh; Cờ Đỏ; "
        "Phong Điền; Thới Lai",
    ),
    (
        "tỉnh Hậu Giang",
        "TP Vị Thanh; TP Ngã Bảy; TX Long Mỹ; Châu Thành A; Châu Thành; Phụng Hiệp; Vị Thủy; "
        "Long Mỹ",
    ),
    (
        "tỉnh Sóc Trăng",
        "TP Sóc Trăng; TX Ngã Năm; TX Vĩnh Châu; Châu Thành; Kế Sách; Mỹ Tú; Cù Lao Dung; "
        "Long Phú; Mỹ Xuyên; Thạnh Trị; Trần Đề",
    ),
    (
        "tỉnh Bạc Liêu",
        "TP Bạc Liêu; TX Giá Rai; Hồng Dân; Phước Long; Vĩnh Lợi; Đông Hải; Hòa Bình",
    ),
    (
        "tỉnh Cà Mau",
        "TP Cà Mau; U Minh; Thới Bình; Trần Văn Thời; Cái Nước; Đầm Dơi; Năm Căn; Phú Tân; "
        "Ngọc Hiển",
    ),
)
DISTRICT_PREFIXES: Final = {"TP": "thành phố", "TX": "thị xã", "Q": "quận"}


@dataclass(frozen=True, slots=True)
class Division:
    """A division inside a unit (phòng, văn phòng, thanh tra) and its titles."""

    label: str  # as written after a staff rank: "Phòng Nội vụ", "Văn phòng Sở"
    head: str  # "Trưởng phòng Nội vụ", "Chánh Văn phòng Sở"
    deputy: str


def phong(name: str) -> Division:
    return Division(f"Phòng {name}", f"Trưởng phòng {name}", f"Phó Trưởng phòng {name}")


def office(label: str) -> Division:
    return Division(label, f"Chánh {label}", f"Phó Chánh {label}")


# Specialised divisions of the larger departments; every department also has a Văn phòng and a
# Thanh tra, and most a Phòng Kế hoạch - Tài chính.
DEPARTMENT_DIVISIONS: Final[dict[str, tuple[str, ...]]] = {
    "Sở Nội vụ": (
        "Cải cách hành chính",
        "Tổ chức - Biên chế",
        "Công chức, viên chức",
        "Xây dựng chính quyền và Công tác thanh niên",
    ),
    "Sở Tài chính": (
        "Quản lý ngân sách",
        "Tài chính hành chính sự nghiệp",
        "Quản lý giá và Công sản",
        "Tài chính đầu tư",
    ),
    "Sở Kế hoạch và Đầu tư": (
        "Tổng hợp, Quy hoạch",
        "Đăng ký kinh doanh",
        "Kinh tế ngành",
        "Đấu thầu, Thẩm định và Giám sát đầu tư",
    ),
    "Sở Tư pháp": (
        "Xây dựng và Kiểm tra văn bản",
        "Phổ biến, giáo dục pháp luật",
        "Hành chính tư pháp",
        "Bổ trợ tư pháp",
    ),
    "Sở Giáo dục và Đào tạo": (
        "Giáo dục Mầm non",
        "Giáo dục Tiểu học",
        "Giáo dục Trung học",
        "Khảo thí và Kiểm định chất lượng giáo dục",
    ),
    "Sở Y tế": ("Nghiệp vụ Y", "Nghiệp vụ Dược", "Tổ chức cán bộ"),
    "Sở Xây dựng": (
        "Quản lý xây dựng",
        "Quy hoạch - Kiến trúc",
        "Phát triển đô thị",
        "Quản lý nhà và Thị trường bất động sản",
    ),
    "Sở Tài nguyên và Môi trường": (
        "Quản lý đất đai",
        "Tài nguyên nước và Khoáng sản",
        "Đo đạc, Bản đồ và Viễn thám",
    ),
    "Sở Giao thông vận tải": (
        "Quản lý kết cấu hạ tầng giao thông",
        "Quản lý vận tải, phương tiện và người lái",
        "Quản lý chất lượng công trình giao thông",
    ),
    "Sở Công Thương": (
        "Quản lý công nghiệp",
        "Quản lý thương mại",
        "Quản lý năng lượng",
        "Kỹ thuật an toàn - Môi trường",
    ),
    "Sở Lao động - Thương binh và Xã hội": (
        "Lao động - Việc làm",
        "Người có công",
        "Bảo trợ xã hội",
        "Giáo dục nghề nghiệp",
    ),
    "Sở Thông tin và Truyền thông": (
        "Công nghệ thông tin",
        "Báo chí - Xuất bản",
        "Bưu chính - Viễn thông",
    ),
}
OTHER_DIVISIONS: Final[dict[str, tuple[Division, ...]]] = {
    "Văn phòng UBND": (
        phong("Tổng hợp"),
        phong("Kinh tế"),
        phong("Khoa giáo - Văn xã"),
        phong("Nội chính"),
        phong("Hành chính - Tổ chức"),
        phong("Quản trị - Tài vụ"),
        phong("Kiểm soát thủ tục hành chính"),
    ),
    "Thanh tra": (
        office("Văn phòng"),
        phong("Nghiệp vụ 1"),
        phong("Nghiệp vụ 2"),
        phong("Nghiệp vụ 3"),
        phong("Tiếp công dân và Xử lý đơn thư"),
        phong("Phòng, chống tham nhũng"),
    ),
}
SMALL_AGENCY_DIVISIONS: Final = (
    phong("Hành chính - Tổng hợp"),
    phong("Nghiệp vụ"),
    phong("Kế hoạch - Tài chính"),
    phong("Thanh tra - Pháp chế"),
)
# The specialised bodies of a district People's Committee.
DISTRICT_DIVISIONS: Final = (
    office("Văn phòng HĐND và UBND"),
    office("Thanh tra huyện"),
    phong("Nội vụ"),
    phong("Tư pháp"),
    phong("Tài chính - Kế hoạch"),
    phong("Tài nguyên và Môi trường"),
    phong("Lao động - Thương binh và Xã hội"),
    phong("Văn hóa và Thông tin"),
    phong("Giáo dục và Đào tạo"),
    phong("Y tế"),
    phong("Nông nghiệp và Phát triển nông thôn"),
    phong("Kinh tế và Hạ tầng"),
    phong("Dân tộc"),
)
# A town or city has an economy and an urban management division instead of the rural ones.
TOWN_DIVISIONS: Final = (
    office("Văn phòng HĐND và UBND"),
    # sample_roster swaps in the locality's own level ("thị xã", "quận").
    office("Thanh tra thành phố"),
    *DISTRICT_DIVISIONS[2:10],
    phong("Kinh tế"),
    phong("Quản lý đô thị"),
)
